#!/usr/bin/python3
"""gen_data: benchmark inputs — N safetensors-like shards (a valid header, then seeded random
bytes written in 16 MiB chunks so memory stays low) and a llama GGUF of a chosen size.

Both are deterministic (same parameters → same bytes → same CIDs), and a stamp file records
the parameters so an unchanged data set is kept between runs.

usage: gen_data.py shards OUTDIR TOTAL_BYTES [--shards 4]
       gen_data.py gguf OUTDIR TARGET_BYTES
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

CHUNK = 16 << 20
TENSOR = 16 << 20       # bytes per tensor: F32 [4096, 1024]
GEN_VERSION = 2         # bump when the bytes written change


def _stamp_ok(outdir, params):
    try:
        with open(os.path.join(outdir, ".bench-stamp.json")) as fh:
            return json.load(fh) == params
    except (OSError, ValueError):
        return False


def _stamp_write(outdir, params):
    with open(os.path.join(outdir, ".bench-stamp.json"), "w") as fh:
        json.dump(params, fh)


def _header(shard, ntensors):
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for t in range(ntensors):
        name = "model.layers.%d.mlp.w%d.weight" % (shard, t)
        hdr[name] = {"dtype": "F32", "shape": [TENSOR // 4096 // 4, 4096],
                     "data_offsets": [off, off + TENSOR]}
        off += TENSOR
    text = json.dumps(hdr, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % 8), hdr


def write_shard(path, shard, ntensors, seed):
    text, hdr = _header(shard, ntensors)
    rng = np.random.default_rng(seed + shard)
    left = ntensors * TENSOR
    with open(path + ".tmp", "wb") as fh:
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        while left:
            n = min(CHUNK, left)
            fh.write(rng.bytes(n))
            left -= n
    os.replace(path + ".tmp", path)
    return [k for k in hdr if k != "__metadata__"]


def shard_names(nshards):
    return ["model-%05d-of-%05d.safetensors" % (i + 1, nshards) for i in range(nshards)]


def gen_shards(outdir, total, nshards=4, seed=2026):
    """Write the shards unless the stamp says they are already there; returns the names."""
    per = max(1, total // nshards // TENSOR)
    params = {"kind": "shards", "v": GEN_VERSION, "per": per, "n": nshards, "seed": seed}
    names = shard_names(nshards)
    if _stamp_ok(outdir, params) and all(os.path.exists(os.path.join(outdir, n)) for n in names):
        return names, False
    os.makedirs(outdir, exist_ok=True)
    weight_map = {}
    for i, name in enumerate(names):
        for t in write_shard(os.path.join(outdir, name), i, per, seed):
            weight_map[t] = name
    with open(os.path.join(outdir, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": nshards * per * TENSOR},
                   "weight_map": weight_map}, fh, indent=1, sort_keys=True)
    with open(os.path.join(outdir, "config.json"), "w") as fh:
        json.dump({"model_type": "bench", "torch_dtype": "float32"}, fh)
    _stamp_write(outdir, params)
    return names, True


def _gen_gguf_module():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "gen"))
    import gen_gguf  # the tests' generator: metadata, vocab and the GGUF writer
    return gen_gguf


def gen_gguf(outdir, target, seed=77):
    """A llama GGUF of about `target` bytes (F32, n_embd 1024, n_ff 2816, as many layers as
    fit), written by tests/gen/gen_gguf.py with its dimensions scaled up."""
    layers = max(1, round(target / (4 * (4 * 1024 * 1024 + 3 * 1024 * 2816))))
    params = {"kind": "gguf", "v": GEN_VERSION, "layers": layers, "seed": seed}
    name = "bench-%dL.gguf" % layers
    if _stamp_ok(outdir, params) and os.path.exists(os.path.join(outdir, name)):
        return name, False
    g = _gen_gguf_module()
    g.N_EMBD, g.N_HEAD, g.N_FF, g.N_LAYER, g.N_CTX = 1024, 16, 2816, layers, 256
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".gguf"):
            os.unlink(os.path.join(outdir, f))
    files = g.write_model(outdir, name="bench-%dL" % layers, split=1, seed=seed)
    _stamp_write(outdir, params)
    return files[0], True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["shards", "gguf"])
    ap.add_argument("outdir")
    ap.add_argument("size", type=int)
    ap.add_argument("--shards", type=int, default=4)
    a = ap.parse_args()
    if a.what == "shards":
        names, made = gen_shards(a.outdir, a.size, a.shards)
    else:
        names, made = [gen_gguf(a.outdir, a.size)[0]], True
    print(json.dumps({"files": names, "generated": made}))


if __name__ == "__main__":
    main()
