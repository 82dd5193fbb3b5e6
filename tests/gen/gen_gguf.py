#!/usr/bin/python3
"""gen_gguf: write a tiny, deterministic llama GGUF (v3, F32 tensors) that llama.cpp loads,
as one file or split into N shards the way gguf-split does (NAME-0000i-of-0000N.gguf, each
shard a GGUF with split.no/split.count/split.tensors.count; metadata in the first shard).

usage: gen_gguf.py OUTDIR [--name NAME] [--split N] [--seed S]
Prints the written file names (one a line).
"""
import argparse
import os
import struct

import numpy as np

# GGUF value types
T_U16, T_U32, T_I32, T_F32, T_STR, T_ARR = 2, 4, 5, 6, 8, 9
GGML_F32 = 0
ALIGN = 32

N_EMBD, N_HEAD, N_FF, N_LAYER, N_CTX = 64, 4, 128, 2, 128
WORDS = ["hello", "world", "the", "model", "pack", "mount", "read", "verify",
         "block", "cid", "llama", "tiny", "fuse", "cache", "gateway", "shard"]


def vocab():
    """Tokens, scores and token types: <unk> <s> </s>, 256 byte tokens, a few words."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    types = [2, 3, 3] + [6] * 256  # UNKNOWN, CONTROL, BYTE
    toks += ["\u2581" + w for w in WORDS]
    types += [1] * len(WORDS)      # NORMAL
    scores = [0.0] * 259 + [-float(i) for i in range(len(WORDS))]
    return toks, scores, types


def tensors(seed):
    """Name → float32 array (numpy shape is reversed GGUF dims: last numpy axis = ne0)."""
    rng = np.random.default_rng(seed)
    n_vocab = len(vocab()[0])

    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm():
        return (1.0 + rng.standard_normal(N_EMBD) * 0.05).astype(np.float32)

    out = {"token_embd.weight": w(n_vocab, N_EMBD, scale=1.0)}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        out[p + "attn_norm.weight"] = norm()
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            out[p + t + ".weight"] = w(N_EMBD, N_EMBD)
        out[p + "ffn_norm.weight"] = norm()
        out[p + "ffn_gate.weight"] = w(N_FF, N_EMBD)
        out[p + "ffn_up.weight"] = w(N_FF, N_EMBD)
        out[p + "ffn_down.weight"] = w(N_EMBD, N_FF)
    out["output_norm.weight"] = norm()
    out["output.weight"] = w(n_vocab, N_EMBD, scale=0.5)
    return out


def metadata(name):
    toks, scores, types = vocab()
    return [
        ("general.architecture", T_STR, "llama"),
        ("general.name", T_STR, name),
        ("general.alignment", T_U32, ALIGN),
        ("llama.context_length", T_U32, N_CTX),
        ("llama.embedding_length", T_U32, N_EMBD),
        ("llama.block_count", T_U32, N_LAYER),
        ("llama.feed_forward_length", T_U32, N_FF),
        ("llama.attention.head_count", T_U32, N_HEAD),
        ("llama.attention.head_count_kv", T_U32, N_HEAD),
        ("llama.rope.dimension_count", T_U32, N_EMBD // N_HEAD),
        ("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5),
        ("tokenizer.ggml.model", T_STR, "llama"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, toks)),
        ("tokenizer.ggml.scores", T_ARR, (T_F32, scores)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
        ("tokenizer.ggml.unknown_token_id", T_U32, 0),
        ("tokenizer.ggml.bos_token_id", T_U32, 1),
        ("tokenizer.ggml.eos_token_id", T_U32, 2),
        ("tokenizer.ggml.add_bos_token", 7, True),
    ]


def _str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _scalar(t, v):
    if t == T_STR:
        return _str(v)
    fmt = {T_U16: "<H", T_U32: "<I", T_I32: "<i", T_F32: "<f", 7: "<?"}[t]
    return struct.pack(fmt, v)


def _kv(key, t, v):
    out = _str(key) + struct.pack("<I", t)
    if t == T_ARR:
        et, items = v
        out += struct.pack("<IQ", et, len(items))
        return out + b"".join(_scalar(et, x) for x in items)
    return out + _scalar(t, v)


def _pad(n):
    return (ALIGN - n % ALIGN) % ALIGN


def gguf_bytes(kvs, named):
    """One GGUF file: kvs [(key, type, value)], named [(name, float32 array)]."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(named), len(kvs))
    head += b"".join(_kv(*kv) for kv in kvs)
    data, offset = b"", 0
    for name, arr in named:
        dims = list(reversed(arr.shape))
        head += _str(name) + struct.pack("<I", len(dims))
        head += b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", GGML_F32, offset)
        raw = arr.astype("<f4").tobytes()
        data += raw + b"\0" * _pad(len(raw))
        offset += len(raw) + _pad(len(raw))
    return head + b"\0" * _pad(len(head)) + data


def write_model(outdir, name="tiny", split=1, seed=1234):
    """Write the model; returns the file names (the first one is what a loader opens)."""
    os.makedirs(outdir, exist_ok=True)
    named = list(tensors(seed).items())
    kvs = metadata(name)
    if split <= 1:
        files = {f"{name}.gguf": gguf_bytes(kvs, named)}
    else:
        files = {}
        per = -(-len(named) // split)
        for i in range(split):
            part = named[i * per:(i + 1) * per]
            skv = [("split.no", T_U16, i), ("split.count", T_U16, split),
                   ("split.tensors.count", T_I32, len(named))]
            fname = f"{name}-{i + 1:05d}-of-{split:05d}.gguf"
            files[fname] = gguf_bytes((kvs if i == 0 else []) + skv, part)
    for fname, blob in files.items():
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(blob)
    return list(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--name", default="tiny")
    ap.add_argument("--split", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    for f in write_model(a.outdir, a.name, a.split, a.seed):
        print(f)


if __name__ == "__main__":
    main()
