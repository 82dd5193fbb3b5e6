#!/usr/bin/python3
"""torch_check: read every tensor of a sharded safetensors model the ways PyTorch loaders do
and compare each with the original files.

usage: torch_check.py MODEL_DIR ORIG_DIR
MODEL_DIR (the mount) is read through:
  shared   mmap.mmap(fd, 0, access=ACCESS_READ)   (MAP_SHARED)  + torch.frombuffer
  private  mmap.mmap(fd, 0, access=ACCESS_COPY)   (MAP_PRIVATE) + torch.frombuffer
  typed    torch.<Float|Half|Long|Int>Storage.from_file(path, False, n)  (MAP_PRIVATE)
  untyped  torch.UntypedStorage.from_file(path, False, nbytes), sliced and viewed as dtype
ORIG_DIR is read with plain read(). The index (model.safetensors.index.json) of MODEL_DIR
names the shards; every weight_map entry must be found in its shard with the same dtype
and shape as in the original. Prints one JSON line {"tensors": N, "shards": [...],
"methods": [...], "mismatches": [...]} and exits 0 only if there is no mismatch.
"""
import json
import mmap
import os
import struct
import sys
import warnings

import torch

DT = {"F32": (torch.float32, 4, "FloatStorage"), "F16": (torch.float16, 2, "HalfStorage"),
      "I64": (torch.int64, 8, "LongStorage"), "I32": (torch.int32, 4, "IntStorage")}


def header(blob):
    (n,) = struct.unpack_from("<Q", blob, 0)
    h = json.loads(bytes(blob[8:8 + n]))
    h.pop("__metadata__", None)
    return 8 + n, h


def numel(shape):
    out = 1
    for d in shape:
        out *= d
    return out


def from_buffer(buf, base, info):
    dtype, size, _ = DT[info["dtype"]]
    b, e = info["data_offsets"]
    t = torch.frombuffer(buf, dtype=dtype, count=(e - b) // size, offset=base + b)
    return t.reshape(info["shape"])


def from_typed(path, base, info):
    dtype, size, cls = DT[info["dtype"]]
    st = getattr(torch, cls).from_file(path, False, os.path.getsize(path) // size)
    flat = torch.tensor([], dtype=dtype).set_(st)
    b, e = info["data_offsets"]
    assert (base + b) % size == 0, "tensor data not aligned to its element size"
    return flat[(base + b) // size:(base + e) // size].reshape(info["shape"])


def from_untyped(path, base, info):
    dtype = DT[info["dtype"]][0]
    st = torch.UntypedStorage.from_file(path, False, os.path.getsize(path))
    flat = torch.tensor([], dtype=torch.uint8).set_(st)
    b, e = info["data_offsets"]
    return flat[base + b:base + e].clone().view(dtype).reshape(info["shape"])


def check_shard(path, orig_path, names, bad):
    with open(orig_path, "rb") as f:
        orig = bytearray(f.read())
    obase, ohdr = header(orig)
    with open(path, "rb") as f:
        mshared = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        mpriv = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    base, hdr = header(mshared)
    if hdr != ohdr:
        bad.append(f"{path}: header differs from the original")
    for name in names:
        info = hdr.get(name)
        if info is None:
            bad.append(f"{path}: tensor {name} from the index is not in the shard")
            continue
        want = from_buffer(orig, obase, ohdr[name])
        got = {"shared": from_buffer(mshared, base, info),
               "private": from_buffer(mpriv, base, info),
               "typed": from_typed(path, base, info),
               "untyped": from_untyped(path, base, info)}
        for how, t in got.items():
            if t.dtype != want.dtype or list(t.shape) != list(want.shape):
                bad.append(f"{name} ({how}): {t.dtype}{list(t.shape)} != "
                           f"{want.dtype}{list(want.shape)}")
            elif not torch.equal(t, want):
                bad.append(f"{name} ({how}): values differ from the original")
        del got, want
    mpriv.close()
    mshared.close()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_check.py MODEL_DIR ORIG_DIR")
    mdir, odir = sys.argv[1], sys.argv[2]
    warnings.filterwarnings("ignore")  # frombuffer on a read-only mapping warns
    with open(os.path.join(mdir, "model.safetensors.index.json")) as f:
        wmap = json.load(f)["weight_map"]
    shards = sorted(set(wmap.values()))
    bad = []
    for shard in shards:
        names = [n for n, s in wmap.items() if s == shard]
        check_shard(os.path.join(mdir, shard), os.path.join(odir, shard), names, bad)
    print(json.dumps({"tensors": len(wmap), "shards": shards,
                      "methods": ["shared", "private", "typed", "untyped"],
                      "mismatches": bad}))
    sys.exit(1 if bad or not wmap else 0)


if __name__ == "__main__":
    main()
