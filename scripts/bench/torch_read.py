#!/usr/bin/python3
"""torch_read: read every tensor of every safetensors shard in DIR the way loaders do (mmap the
shard, torch.frombuffer each tensor, sum it) and print {"seconds", "bytes", "tensors"} as JSON.
The clock starts after `import torch`, so only the reading is timed.

usage: torch_read.py DIR
"""
import json
import mmap
import os
import struct
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore", message="The given buffer is not writable")
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "U8": torch.uint8}


def read_shard(path):
    n = nbytes = 0
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        (hlen,) = struct.unpack("<Q", m[:8])
        header = json.loads(m[8:8 + hlen])
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            begin, end = meta["data_offsets"]
            dt = DTYPES[meta["dtype"]]
            count = (end - begin) // torch.tensor([], dtype=dt).element_size()
            t = torch.frombuffer(m, dtype=dt, count=count, offset=8 + hlen + begin)
            t.sum()
            del t
            n += 1
            nbytes += end - begin
        m.close()
    return n, nbytes


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    shards = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    t0 = time.perf_counter()
    n = nbytes = 0
    for s in shards:
        a, b = read_shard(os.path.join(d, s))
        n, nbytes = n + a, nbytes + b
    print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": nbytes, "tensors": n}))


if __name__ == "__main__":
    main()
