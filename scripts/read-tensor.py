#!/usr/bin/python3
"""A loader the way transformers-style code reads safetensors: mmap the shard named by
model.safetensors.index.json and view one tensor with torch.frombuffer.
Usage: read-tensor.py MODEL_DIR [TENSOR]"""
import json
import mmap
import os
import struct
import sys

import warnings

import torch

warnings.filterwarnings("ignore", message="The given buffer is not writable")

DTYPES = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64}


def main():
    d = sys.argv[1]
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    name = sys.argv[2] if len(sys.argv) > 2 else sorted(index["weight_map"])[0]
    shard = os.path.join(d, index["weight_map"][name])
    with open(shard, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        (hlen,) = struct.unpack("<Q", m[:8])
        meta = json.loads(m[8:8 + hlen])[name]
        begin, end = meta["data_offsets"]
        dt = DTYPES[meta["dtype"]]
        count = (end - begin) // torch.tensor([], dtype=dt).element_size()
        t = torch.frombuffer(m, dtype=dt, count=count, offset=8 + hlen + begin)
        t = t.reshape(meta["shape"]).clone()
    print(f"{name}: shape={list(t.shape)} dtype={t.dtype} "
          f"mean={t.float().mean().item():.6f} std={t.float().std().item():.6f}")


if __name__ == "__main__":
    main()
