#!/usr/bin/python3
"""run: the `make bench` driver. Generates (or reuses) the data, packs it twice (1 MiB and
256 KiB leaves), extracts the blocks for nginx, starts nginx on 127.0.0.1, runs every
measurement and writes docs/benchmarks.json and docs/BENCHMARKS.md.

Environment: BENCH_QUICK=1 (256 MiB, 3 runs, 1 s fio), BENCH_DIR (default
/var/tmp/mpackfs-bench), BENCH_RUNS, BENCH_FIO_RUNTIME, BENCH_SETTLE (seconds to wait after each
drop_caches; default 0), BENCH_ONLY (comma list of sections:
limits,local,http,mount,ttfb,fio,apps,pack,prefetch), BENCH_OUT (default docs/; for
BENCH_QUICK=1, BENCH_DIR/quick/report/).
"""
import hashlib
import json
import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import carblocks  # noqa: E402
import gen_data  # noqa: E402
import m_apps  # noqa: E402
import m_fio  # noqa: E402
import m_read  # noqa: E402
import report  # noqa: E402

RETRIES = 8
SECTIONS = ["limits", "local", "http", "mount", "ttfb", "fio", "apps", "pack", "prefetch"]


class Bench:
    """Run-wide configuration and state, handed to every measurement."""

    def __init__(self):
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        self.mode = "quick" if self.quick else "full"
        self.runs = int(os.environ.get("BENCH_RUNS", "3" if self.quick else "5"))
        self.fio_runtime = int(os.environ.get("BENCH_FIO_RUNTIME", "1" if self.quick else "10"))
        self.settle = float(os.environ.get("BENCH_SETTLE", "0"))
        bl.SETTLE_S = self.settle
        self.data_bytes = (256 if self.quick else 2048) * bl.MiB
        self.gguf_bytes = (56 if self.quick else 200) * 1000 * 1000
        top = os.environ.get("BENCH_DIR", "/var/tmp/mpackfs-bench")
        self.base = os.path.join(top, self.mode)
        self.files = os.path.join(self.base, "files")
        self.gguf_dir = os.path.join(self.base, "gguf")
        self.blocks = os.path.join(self.base, "blocks")
        self.run_dir = os.path.join(self.base, "run")
        self.mnt = os.path.join(self.base, "mnt")
        self.caches = os.path.join(self.base, "caches")
        # a quick run must not replace the full report under docs/
        self.out = os.environ.get("BENCH_OUT", os.path.join(self.base, "report") if self.quick
                                  else os.path.join(bl.ROOT, "docs"))
        only = os.environ.get("BENCH_ONLY", "")
        self.sections = [s for s in SECTIONS if not only or s in only.split(",")]
        self.watch = bl.CpuWatch()
        self.res = bl.Results(self.watch)
        self.packs, self.shards, self.port, self.url = {}, [], None, None

    def shard_paths(self, root):
        return [os.path.join(root, s) for s in self.shards]

    @property
    def payload(self):
        return sum(os.path.getsize(p) for p in self.shard_paths(self.files))

    def mount_dir(self, pack):
        return os.path.join(self.mnt, self.packs[pack]["manifest_cid"])

    def mpackfs(self, cache_dir, extra=()):
        return bl.Mpackfs(self.mnt, self.url, cache_dir, self.run_dir, extra)

    def attempt(self, section, label, fn, *args):
        """fn(*args), but a failure (e.g. mpackfs crashing) is recorded, not fatal."""
        try:
            return fn(*args)
        except Exception as ex:  # noqa: BLE001 — every failure becomes a report line
            traceback.print_exc()
            self.res.skip(section, label, "%s: %s" % (type(ex).__name__, str(ex)[-600:]),
                          error=True)
            if bl.is_mounted(self.mnt):
                bl.unmount(self.mnt)
            return None

    def retry(self, fn, *args):
        """One measured run; if it failed because mpackfs crashed, run it again (at most
        RETRIES more times). Every crash is listed in the report."""
        for attempt in range(RETRIES + 1):
            crashes = len(bl.CRASHES)
            try:
                return fn(*args)
            except Exception:
                if len(bl.CRASHES) == crashes or attempt == RETRIES:
                    raise
                bl.log("run failed after an mpackfs crash; retrying (%d)" % (attempt + 1))
                if bl.is_mounted(self.mnt):
                    bl.unmount(self.mnt)

    def series(self, n, fn):
        """Call fn(i) n times; returns (values, load averages sampled before each run)."""
        vals, loads = [], []
        for i in range(n):
            loads.append(bl.loadavg())
            vals.append(self.retry(fn, i))
        return vals, loads


def check_space(b):
    need = 5 * b.data_bytes + 2 * b.gguf_bytes
    have = shutil.disk_usage(os.path.dirname(b.base)).free
    used = bl.du_bytes(b.base) if os.path.isdir(b.base) else 0
    if have + used < max(3 * b.data_bytes, need):
        sys.exit("bench: not enough disk space under %s: %.1f GiB free (+%.1f GiB already "
                 "used by earlier runs), need %.1f GiB (data %.1f GiB: files, blocks for two "
                 "packs, one CAR, one cache). Free space or set BENCH_DIR."
                 % (os.path.dirname(b.base), have / 2**30, used / 2**30,
                    max(3 * b.data_bytes, need) / 2**30, b.data_bytes / 2**30))


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pack_one(b, name, src, chunk):
    """Pack src with `chunk`-byte leaves into a CAR, extract its blocks; cached by a stamp."""
    state_path = os.path.join(b.base, "pack-%s.json" % name)
    stamp = {"data": json.load(open(os.path.join(src, ".bench-stamp.json"))),
             "mpack": file_sha(bl.MPACK), "chunk": chunk}
    try:
        st = json.load(open(state_path))
        if st["stamp"] == stamp:
            return st["pack"]
    except (OSError, ValueError, KeyError):
        pass
    car = os.path.join(b.base, "tmp-%s.car" % name)
    out = os.path.join(b.base, "MODEL_PACK-%s.json" % name)
    bl.log("packing %s (%d-byte leaves)" % (name, chunk))
    r = bl.run([bl.MPACK, "pack", src, "--car", car, "--out", out, "--json", "--chunk-size",
                str(chunk), "--max-links", "1024", "--cid-version", "1", "--name",
                "bench-" + name])
    pack = json.loads(r.stdout)
    pack["extract"] = carblocks.extract(car, b.blocks)
    os.unlink(car)
    bl.write_json(state_path, {"stamp": stamp, "pack": pack})
    return pack


def snapshot_binaries(b):
    """Copy mpack and mpackfs aside so a rebuild during the run cannot change them."""
    d = os.path.join(b.run_dir, "bin")
    os.makedirs(d, exist_ok=True)
    info = {}
    for name in ("MPACK", "MPACKFS"):
        src = getattr(bl, name)
        dst = os.path.join(d, os.path.basename(src))
        shutil.copy2(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
        setattr(bl, name, dst)
        info[os.path.basename(src)] = {"from": src, "sha256": file_sha(dst)[:16]}
    return info


def setup_data(b):
    t = time.time()
    b.shards, made = gen_data.gen_shards(b.files, b.data_bytes)
    bl.log("shards %s in %s (%.1f s)" % ("generated" if made else "kept", b.files,
                                        time.time() - t))
    b.gguf_name, made = gen_data.gen_gguf(b.gguf_dir, b.gguf_bytes)
    bl.log("gguf %s %s" % (b.gguf_name, "generated" if made else "kept"))
    b.packs["1m"] = pack_one(b, "1m", b.files, 1 << 20)
    b.packs["256k"] = pack_one(b, "256k", b.files, 256 << 10)
    b.packs["gguf"] = pack_one(b, "gguf", b.gguf_dir, 1 << 20)
    for k, p in b.packs.items():
        bl.log("pack %s: %s (%d blocks)" % (k, p["manifest_cid"], p["extract"]["blocks"]))


NGINX_WORKERS = 32


def start_nginx(b):
    sys.path.insert(0, os.path.join(bl.ROOT, "tests", "fixture"))
    import nginx
    # rclone's http backend lists directories from an HTML index: turn on autoindex for
    # /files/ (the fixture has no option for it).
    if "autoindex" not in nginx.CONF:
        nginx.CONF = nginx.CONF.replace("alias {files}/;", "alias {files}/;\n"
                                        "            autoindex on;")
    # A worker blocks on the disk read behind each sendfile: enough workers for every
    # request a client keeps in flight (mpackfs: up to 24 per gateway), as a gateway that
    # serves each request on its own thread or goroutine (Kubo) would.
    proc, port = nginx.start(b.blocks, b.files, workers=NGINX_WORKERS)
    bl.register_nginx(proc)
    b.port, b.url = port, "http://127.0.0.1:%d" % port
    b.nginx_autoindex = "autoindex" in nginx.CONF
    bl.log("nginx on %s" % b.url)


def foreign_summary(b):
    v = [f for _, f, _ in b.watch.samples]
    if not v:
        return None
    v.sort()
    return {"mean": round(sum(v) / len(v), 3), "p90": round(v[int(0.9 * (len(v) - 1))], 3),
            "max": round(v[-1], 3), "samples": len(v), "period_s": b.watch.period}


def meta(b, started, busy0):
    busy1 = bl.cpu_busy(2.0)
    return {"mode": b.mode, "runs": b.runs, "fio_runtime_s": b.fio_runtime,
            "settle_s": b.settle,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "duration_s": round(time.time() - started, 1), "git": bl.git_head(),
            "machine": bl.machine_facts(b.base), "tools": bl.tool_versions(),
            "data": {"shards": b.shards, "shard_bytes": b.payload, "gguf": b.gguf_name,
                     "gguf_bytes": os.path.getsize(os.path.join(b.gguf_dir, b.gguf_name)),
                     "dir": b.base},
            "packs": {k: {"manifest_cid": v["manifest_cid"], "blocks": v["extract"]["blocks"],
                          "block_bytes": v["extract"]["bytes"]} for k, v in b.packs.items()},
            "foreign_cpu": foreign_summary(b),
            "background_cpu_busy": {"before": round(busy0[0], 3), "after": round(busy1[0], 3),
                                    "steal_before": round(busy0[1], 4),
                                    "steal_after": round(busy1[1], 4)},
            "sections": b.sections, "mpackfs_crashes": bl.CRASHES, "binaries": b.binaries,
            "retries": RETRIES}


def main():
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (drop_caches, FUSE mounts)")
    b = Bench()
    check_space(b)
    bl.install_cleanup()
    bl.init_run_dir(b.run_dir)
    b.binaries = snapshot_binaries(b)
    started = time.time()
    bl.log("mode %s: %d runs per figure, data %d MiB under %s"
           % (b.mode, b.runs, b.data_bytes >> 20, b.base))
    busy0 = bl.cpu_busy(2.0)
    b.watch.start()
    setup_data(b)
    start_nginx(b)
    steps = {"limits": m_read.limits, "local": m_read.local, "http": m_read.http,
             "mount": m_read.mount_reads, "ttfb": m_read.ttfb, "fio": m_fio.fio_all,
             "apps": m_apps.apps, "pack": m_apps.pack, "prefetch": m_apps.prefetch}
    for s in b.sections:
        t = time.time()
        bl.log("== section %s" % s)
        b.res.mark()
        steps[s](b)
        bl.log("== section %s done in %.1f s" % (s, time.time() - t))
    b.watch.stop()
    doc = {"meta": meta(b, started, busy0), "figures": list(b.res.figs.values()),
           "skipped": b.res.skipped}
    os.makedirs(b.out, exist_ok=True)
    bl.write_json(os.path.join(b.out, "benchmarks.json"), doc)
    with open(os.path.join(b.out, "BENCHMARKS.md"), "w") as fh:
        fh.write(report.render(doc))
    bl.log("wrote %s/benchmarks.json and BENCHMARKS.md in %.0f s"
           % (b.out, time.time() - started))


if __name__ == "__main__":
    main()
