#!/usr/bin/python3
"""Write a small, deterministic sample model: two safetensors shards with an index,
config.json, tokenizer.json and a README. Usage: make-sample.py OUTDIR [MB]"""
import json
import os
import struct
import sys

import numpy as np


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        raw = arr.tobytes()
        dtype = {"float32": "F32", "float16": "F16", "int64": "I64"}[str(arr.dtype)]
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    out = sys.argv[1]
    mb = float(sys.argv[2]) if len(sys.argv) > 2 else 6
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2026)
    hidden, vocab = 256, 512
    layers = max(1, int(mb * 1024 * 1024 / (hidden * hidden * 4 * 4)))
    shards = [{}, {}]
    shards[0]["model.embed_tokens.weight"] = rng.standard_normal((vocab, hidden), np.float32)
    for i in range(layers):
        s = shards[0] if i < layers // 2 else shards[1]
        for p in ("q_proj", "k_proj", "v_proj", "o_proj"):
            s[f"model.layers.{i}.self_attn.{p}.weight"] = \
                rng.standard_normal((hidden, hidden), np.float32)
    shards[1]["model.norm.weight"] = np.ones(hidden, np.float16)
    shards[1]["model.position_ids"] = np.arange(64, dtype=np.int64)
    weight_map = {}
    for i, s in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(out, name), s)
        weight_map.update({k: name for k in s})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["SampleForCausalLM"], "model_type": "sample",
                   "hidden_size": hidden, "num_hidden_layers": layers,
                   "vocab_size": vocab, "torch_dtype": "float32"}, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "model": {"type": "WordLevel",
                   "vocab": {f"tok{i}": i for i in range(vocab)}, "unk_token": "tok0"}}, f)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# sample\n\nA generated sample model for the mpackfs demo.\n")


if __name__ == "__main__":
    main()
