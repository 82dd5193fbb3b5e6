#!/usr/bin/python3
"""m_fio: random reads with fio over the four shards — 4 KiB and 1 MiB blocks, 1 and 8 readers,
psync and mmap — through mpackfs warm and cold, on local disk (page cache dropped), and on local
files already in page cache (hot: the limit of every other state)."""
import json
import os

import benchlib as bl
import m_read

CONFIGS = [(engine, bs, jobs) for engine in ("psync", "mmap") for bs in ("4k", "1m")
           for jobs in (1, 8)]


def fio_once(b, paths, engine, bs, jobs, runtime=None, extra=()):
    """One fio run; returns (MB/s, IOPS, p99 completion latency in ms)."""
    runtime = runtime or b.fio_runtime
    size = min(os.path.getsize(p) for p in paths) // bl.MiB * bl.MiB * len(paths)
    argv = ["fio", "--name=bench", "--readonly", "--rw=randread", "--bs=" + bs,
            "--ioengine=" + engine, "--numjobs=%d" % jobs, "--time_based",
            "--runtime=%d" % runtime, "--size=%d" % size, "--group_reporting",
            "--output-format=json", "--filename=" + ":".join(paths), *extra]
    r = bl.run(argv, timeout=runtime * 10 + 120)
    txt = r.stdout[r.stdout.index("{"):]
    job = json.loads(txt)["jobs"][0]
    rd = job["read"]
    if job.get("error"):
        raise RuntimeError("fio error %s: %s" % (job["error"], r.stderr[-500:]))
    lat = rd.get("clat_ns") or rd.get("lat_ns") or {}
    p99 = lat.get("percentile", {}).get("99.000000", 0) / 1e6
    return rd["bw_bytes"] / bl.MB, rd["iops"], p99


def series(b, state, engine, bs, jobs):
    """b.runs fio runs in one state: local, warm or cold."""
    cold_cache = os.path.join(b.caches, "fio-cold")
    warm_cache = os.path.join(b.caches, "seq-1m")

    def one(_):
        fs = None
        if state == "hot":
            paths = b.shard_paths(b.files)
            for p in paths:
                bl.dd_read(p)
            return fio_once(b, paths, engine, bs, jobs, min(HOT_RUNTIME, b.fio_runtime),
                            ["--invalidate=0"])  # fio drops a file's pages by default
        if state == "cold":
            bl.fresh_dir(cold_cache)
        if state != "local":
            fs = b.mpackfs(cold_cache if state == "cold" else warm_cache)
            fs.start()
        try:
            bl.drop_caches()
            root = b.files if state == "local" else b.mount_dir("1m")
            return fio_once(b, b.shard_paths(root), engine, bs, jobs)
        finally:
            if fs:
                fs.stop()

    return b.series(b.runs, one)


HOT_RUNTIME = 3  # s: the page cache's speed holds still; it needs no 10 s


def fid(state, engine, bs, jobs):
    return "fio.%s.%s.%s.j%d" % (state, engine, bs, jobs)


def add(b, state, engine, bs, jobs, out, load):
    label = "fio randread %s bs=%s numjobs=%d, %s" % (engine, bs, jobs, {
        "local": "local disk, page cache dropped", "warm": "mpackfs warm",
        "cold": "mpackfs cold", "hot": "local files in page cache (%d s runs)" % min(HOT_RUNTIME, b.fio_runtime)
    }[state])
    base = fid("local", engine, bs, jobs) if state not in ("local", "hot") else None
    hot = b.res.get(fid("hot", engine, bs, jobs)) if state != "hot" else None
    targets = None
    if state == "warm" and engine == "psync" and bs == "1m" and jobs == 8:
        targets = [{"vs": fid("warm", "psync", "1m", 1), "op": ">=", "value": 0.7}]
    b.res.add(fid(state, engine, bs, jobs), "fio", label, "MB/s", [o[0] for o in out],
              baseline=base, targets=targets,
              limit={"value": hot["median"], "what": "local files in page cache, same job"}
              if hot else None,
              extra={"iops": bl.summary([o[1] for o in out]),
                     "p99_ms": bl.summary([o[2] for o in out]), "load": load,
                     "state": state, "engine": engine, "bs": bs, "jobs": jobs})


def one_config(b, state, engine, bs, jobs):
    out, load = series(b, state, engine, bs, jobs)
    add(b, state, engine, bs, jobs, out, load)


def fio_all(b):
    if b.attempt("fio", "warm-up of the 1 MiB pack", m_read.ensure_warm, b, "1m") is None:
        return
    for state in ("hot", "local", "warm", "cold"):
        for engine, bs, jobs in CONFIGS:
            if b.quick and (state == "hot" or engine == "mmap" and (state != "warm"
                                                                   or jobs > 1)):
                continue  # quick mode: no limits, mmap only warm and 1 job: under 3 minutes
            b.attempt("fio", "fio %s %s bs=%s numjobs=%d" % (state, engine, bs, jobs),
                      one_config, b, state, engine, bs, jobs)
    bl.fresh_dir(os.path.join(b.caches, "fio-cold"))
