#!/usr/bin/python3
"""gen_safetensors: write a small, deterministic, sharded safetensors model the way
transformers saves one: model-0000i-of-0000N.safetensors, model.safetensors.index.json
(metadata.total_size, weight_map) and config.json. Tensors are float32, float16, int64 and
int32; every tensor's data starts at an 8-byte aligned file offset (header padded with
spaces, as the safetensors library does).

usage: gen_safetensors.py OUTDIR [--shards N] [--seed S] [--scale K]
Prints the written file names (one a line).
"""
import argparse
import json
import os
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8"),
          "I32": np.dtype("<i4")}
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128,
    "intermediate_size": 256, "num_attention_heads": 4, "num_hidden_layers": 3,
    "vocab_size": 1000, "torch_dtype": "float32", "rms_norm_eps": 1e-06,
}


def tensors(seed=7, scale=1):
    """Ordered name → numpy array, about 1.3 MB per unit of scale."""
    rng = np.random.default_rng(seed)
    h, ff, vocab = 128, 256 * scale, 1000
    out = {"model.embed_tokens.weight": rng.standard_normal((vocab, h)).astype("<f4")}
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            out[p + "self_attn." + n + ".weight"] = rng.standard_normal((h, h)).astype("<f2")
        out[p + "mlp.gate_proj.weight"] = rng.standard_normal((ff, h)).astype("<f4")
        out[p + "mlp.up_proj.weight"] = rng.standard_normal((ff, h)).astype("<f2")
        out[p + "mlp.down_proj.weight"] = rng.standard_normal((h, ff)).astype("<f4")
        out[p + "input_layernorm.weight"] = rng.standard_normal(h).astype("<f4")
        out[p + "position_ids"] = np.arange(i, i + 77, dtype="<i8")
        out[p + "bucket_ids"] = rng.integers(-2**31, 2**31 - 1, (3, 5, 7), dtype="<i4")
    out["model.norm.weight"] = rng.standard_normal(h).astype("<f4")
    out["lm_head.weight"] = rng.standard_normal((vocab, h)).astype("<f4")
    out["model.scalar_step"] = np.array(123456789012345, dtype="<i8")  # 0-d tensor
    return out


def dtype_name(arr):
    for k, v in DTYPES.items():
        if arr.dtype == v:
            return k
    raise ValueError(f"unsupported dtype {arr.dtype}")


def shard_bytes(named):
    """One safetensors file from [(name, array)]."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, arr in named:
        n = arr.nbytes
        header[name] = {"dtype": dtype_name(arr), "shape": list(arr.shape),
                        "data_offsets": [offset, offset + n]}
        offset += n + (-n) % 8
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((-len(hj)) % 8)
    body = b"".join(a.tobytes() + b"\0" * ((-a.nbytes) % 8) for _, a in named)
    return struct.pack("<Q", len(hj)) + hj + body


def write_model(outdir, shards=3, seed=7, scale=1):
    """Write the model; returns the written file names."""
    os.makedirs(outdir, exist_ok=True)
    named = list(tensors(seed, scale).items())
    per = -(-len(named) // shards)
    weight_map, names, total = {}, [], 0
    for i in range(shards):
        part = named[i * per:(i + 1) * per]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        with open(os.path.join(outdir, fname), "wb") as f:
            f.write(shard_bytes(part))
        for name, arr in part:
            weight_map[name] = fname
            total += arr.nbytes
        names.append(fname)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(outdir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    return names + ["model.safetensors.index.json", "config.json"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=int, default=1)
    a = ap.parse_args()
    for f in write_model(a.outdir, a.shards, a.seed, a.scale):
        print(f)


if __name__ == "__main__":
    main()
