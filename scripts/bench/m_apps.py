#!/usr/bin/python3
"""m_apps: loaders (llama.cpp via node-llama-cpp, PyTorch mmap + frombuffer) from a warm mount
vs local disk, `mpack pack` vs sha256sum, and `mpack prefetch` when it exists."""
import json
import os
import subprocess

import benchlib as bl
import llama_load
import m_read

HERE = os.path.dirname(os.path.abspath(__file__))
WARM = ("warm mount: every block cached and every file's verified copy made (passthrough), page "
        "cache dropped, mpackfs restarted before each "
        "run; local: page cache dropped before each run; local and mount runs interleaved")


LLAMA_PAIRS = 11  # a load takes ~2 s, so more pairs cost little and steady the ratio


def paired_runs(b, pack, local_fn, mount_fn, n, floor=None):
    """n local runs and n warm-mount runs (and, with floor=(dir, fn), n runs of fn with
    fusefloor serving dir on m_read.floor_mnt), interleaved
    local, mount, mount, local, ... (with floor: the three rotate, in alternating
    direction), so the VM's drift (disk and fresh-memory speed change over minutes) hits
    every side. A mount run starts mpackfs on the pack's warm cache, drops the page cache,
    calls mount_fn() and stops mpackfs.
    Returns {side: (values, loads)} and, for each side but local, its per-run ratios to
    local."""
    cache = m_read.ensure_warm(b, pack)

    def local(_):
        bl.drop_caches()
        return local_fn()

    def mount(_):
        fs = b.mpackfs(cache)
        fs.start()
        try:
            bl.drop_caches()
            v = mount_fn()
            fetched = fs.stats()["store"]["fetched"]
            if fetched:
                bl.log("warning: warm run fetched %d blocks" % fetched)
        finally:
            fs.stop()
        return v

    def on_floor(_):
        with bl.FuseFloor(floor[0], m_read.floor_mnt(b), b.run_dir):
            bl.drop_caches()
            return floor[1]()

    fns = {"local": local, "mount": mount, "floor": on_floor}
    names = ["local", "mount"] + (["floor"] if floor else [])
    side = {name: ([], []) for name in names}
    for i in range(n):
        k = i % len(names)
        order = names[k:] + names[:k]
        if (i // len(names)) % 2:
            order.reverse()
        for name in order:
            vals, loads = side[name]
            loads.append(bl.loadavg())
            vals.append(b.retry(fns[name], i))
    ratios = {name: [v / lo for v, lo in zip(side[name][0], side["local"][0])]
              for name in names if name != "local"}
    return side, ratios


def hot_limit(b, fid, label, fn, paths):
    """The loader on local files already in page cache, b.runs times: its time with no I/O,
    the limit for any filesystem."""
    for p in paths:
        bl.dd_read(p)
    vals, load = b.series(b.runs, lambda _: fn())
    b.res.add(fid, "apps", label, "s", vals, better="lower", extra={"load": load})


def hot_of(b, fid):
    return m_read.limit_of(b, fid, "the same load with the file%s in page cache (`%s`)"
                           % ("s" if fid.startswith("torch") else "", fid))


def torch_read(root):
    r = bl.run([bl.PY, os.path.join(HERE, "torch_read.py"), root], timeout=1800)
    return json.loads(r.stdout.strip().splitlines()[-1])["seconds"]


def apps(b):
    b.attempt("apps", "llama.cpp load", llama, b)
    b.attempt("apps", "PyTorch read", torch_all, b)


def llama(b):
    try:
        llama_load.load(os.path.join(b.gguf_dir, b.gguf_name))
    except Exception as ex:  # a missing node-llama-cpp binary must not stop the rest
        b.res.skip("apps", "llama.cpp load", str(ex)[:300])
    else:
        n = b.runs if b.quick else max(b.runs, LLAMA_PAIRS)
        side, ratios = paired_runs(
            b, "gguf",
            lambda: llama_load.load(os.path.join(b.gguf_dir, b.gguf_name))["seconds"],
            lambda: llama_load.load(os.path.join(b.mount_dir("gguf"), b.gguf_name))["seconds"],
            n, floor=(b.gguf_dir, lambda: llama_load.load(
                os.path.join(m_read.floor_mnt(b), b.gguf_name))["seconds"]))
        (loc, ll), (warm, lw), (flo, lf) = side["local"], side["mount"], side["floor"]
        gguf = os.path.join(b.gguf_dir, b.gguf_name)
        hot_limit(b, "llama.hot", "llama.cpp loadModel + createContext, local file in page "
                  "cache", lambda: llama_load.load(gguf)["seconds"], [gguf])
        b.res.add("llama.local", "apps", "llama.cpp loadModel + createContext, local disk "
                  "(%s, %.0f MB)" % (b.gguf_name, os.path.getsize(
                      os.path.join(b.gguf_dir, b.gguf_name)) / bl.MB), "s", loc,
                  better="lower", limit=hot_of(b, "llama.hot"), extra={"load": ll})
        b.res.add("llama.warm", "apps", "llama.cpp loadModel + createContext, warm mount", "s",
                  warm, better="lower", baseline="llama.local",
                  limit=hot_of(b, "llama.hot"),
                  targets=[{"vs": "llama.local", "op": "<=", "value": 1.25}], note=WARM,
                  extra={"load": lw, "pair_ratios": [round(r, 3) for r in ratios["mount"]]})
        b.res.add("llama.floor", "apps", "llama.cpp loadModel + createContext, through "
                  "fusefloor (the local file)", "s", flo, better="lower",
                  baseline="llama.local", limit=hot_of(b, "llama.hot"), note=m_read.FLOOR,
                  extra={"load": lf, "pair_ratios": [round(r, 3) for r in ratios["floor"]]})


def torch_all(b):
    side, ratios = paired_runs(
        b, "1m", lambda: torch_read(b.files), lambda: torch_read(b.mount_dir("1m")), b.runs)
    (loc, ll), (warm, lw) = side["local"], side["mount"]
    hot_limit(b, "torch.hot", "PyTorch: mmap + frombuffer + sum of every tensor, local files "
              "in page cache", lambda: torch_read(b.files), b.shard_paths(b.files))
    b.res.add("torch.local", "apps", "PyTorch: mmap + frombuffer + sum of every tensor, "
              "local disk", "s", loc, better="lower", limit=hot_of(b, "torch.hot"),
              extra={"load": ll})
    b.res.add("torch.warm", "apps", "PyTorch: mmap + frombuffer + sum of every tensor, warm "
              "mount", "s", warm, better="lower", baseline="torch.local",
              limit=hot_of(b, "torch.hot"), note=WARM,
              extra={"load": lw, "pair_ratios": [round(r, 3) for r in ratios["mount"]]})


def pack(b):
    b.attempt("pack", "mpack pack", pack_run, b)


def pack_run(b):
    files = sorted(os.path.join(b.files, f) for f in os.listdir(b.files)
                   if not f.startswith("."))
    total = sum(os.path.getsize(f) for f in files)
    for f in files:
        bl.dd_read(f)
    out = os.path.join(b.run_dir, "pack-bench.json")

    def sha(_):
        return m_read.mbps(total, bl.timed(bl.run, ["sha256sum"] + files))

    vals, load = b.series(b.runs, sha)
    b.res.add("pack.sha256sum", "pack", "sha256sum of the same files, page cache hot", "MB/s",
              vals, extra={"load": load})
    sha1 = b.res.get("lim.sha256")
    lim = {"value": sha1["median"] * os.cpu_count() / 2,
           "what": "2 SHA-256 passes per byte (file digest + block CIDs) on %d cores"
           % os.cpu_count()} if sha1 else None
    for name, chunk in (("1m", "1048576"), ("256k", "262144")):
        def one(_, chunk=chunk):
            return m_read.mbps(total, bl.timed(bl.run, [
                bl.MPACK, "pack", b.files, "--out", out, "--chunk-size", chunk, "--quiet"]))

        vals, load = b.series(b.runs, one)
        b.res.add("pack.%s" % name, "pack", "mpack pack (no CAR), %s leaves, page cache hot"
                  % ("1 MiB" if name == "1m" else "256 KiB"), "MB/s", vals,
                  baseline="pack.sha256sum", limit=lim,
                  targets=[{"vs": "pack.sha256sum", "op": ">=", "value": 0.8}],
                  extra={"load": load, "bytes": total})


def prefetch(b):
    r = subprocess.run([bl.MPACK, "prefetch", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        return b.res.skip("prefetch", "mpack prefetch", "`mpack prefetch` does not exist in "
                          "this build (%s)" % (r.stderr.strip().splitlines() or ["?"])[0])
    cache = os.path.join(b.caches, "prefetch")
    cid = b.packs["1m"]["manifest_cid"]

    spans = []

    def one(_):
        bl.fresh_dir(cache)
        bl.drop_caches()
        return m_read.mbps(b.payload, m_read.spanned(spans, bl.timed, bl.run, [
            bl.MPACK, "prefetch", "--quiet", "--gateway", b.url, "--cache-dir", cache, cid],
            timeout=3600))

    vals = b.attempt("prefetch", "mpack prefetch", b.series, b.runs, one)
    if vals is None:
        return
    vals, load = vals
    b.res.add("prefetch", "prefetch", "mpack prefetch (default -j) of the 1 MiB pack into an "
              "empty cache, page cache dropped", "MB/s", vals, baseline="http.curl_null",
              limit=m_read.limit_cold(b, fills=1, reader=False, pack="1m"),
              extra={"load": load, **m_read.cpu_extra(b.payload, spans)})
    bl.fresh_dir(cache)
