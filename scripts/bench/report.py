#!/usr/bin/python3
"""report: render docs/benchmarks.json as docs/BENCHMARKS.md (tables of median and min–max,
ratio to baseline, distance to the physical limit, PASS/FAIL against the targets).

usage: report.py [benchmarks.json [BENCHMARKS.md]]   (re-render without re-running)
"""
import json
import os
import statistics
import sys

SECTIONS = [("limits", "Physical limits of this machine"),
            ("sequential", "Sequential reads (all four shards, dd bs=4M)"),
            ("latency", "Latency"),
            ("resources", "Resources"),
            ("apps", "Loaders"),
            ("pack", "Packing"),
            ("prefetch", "Prefetch")]
NOISY = 0.25  # (max - min) / median above this is flagged
BUSY = 0.25   # cores used by other work during a figure above this is flagged


def fmt(v, unit=""):
    if v is None:
        return "—"
    a = abs(v)
    s = ("%.0f" % v if a >= 100 else "%.1f" % v if a >= 10 else "%.2f" % v if a >= 1
         else "%.3f" % v)
    return s + (" " + unit if unit and unit != "×" else "×" if unit == "×" else "")


def ratio(f, figs):
    b = figs.get(f.get("baseline") or "")
    return f["median"] / b["median"] if b and b["median"] else None


def pct_limit(f):
    lim = f.get("limit")
    if not lim or not lim.get("value") or not f["median"]:
        return None
    if f["better"] == "higher":
        return 100.0 * f["median"] / lim["value"]
    return 100.0 * lim["value"] / f["median"]


def check(f, t, figs):
    """(text, passed or None) for one target."""
    if t["vs"]:
        other = figs.get(t["vs"])
        if not other:
            return "%s %s× %s" % (t["op"], t["value"], t["vs"]), None
        r = f["median"] / other["median"]
        ok = r >= t["value"] if t["op"] == ">=" else r <= t["value"]
        return "%s %g× %s (is %.3g×)" % ("≥" if t["op"] == ">=" else "≤", t["value"],
                                         t["vs"], r), ok
    v = f["median"]
    ok = v >= t["value"] if t["op"] == ">=" else v <= t["value"]
    return "%s %g %s" % ("≥" if t["op"] == ">=" else "≤", t["value"], f["unit"]), ok


def verdict(ok):
    return "—" if ok is None else "**PASS**" if ok else "**FAIL**"


def spread(f):
    return (f["max"] - f["min"]) / f["median"] if f["median"] else 0


def disturbed(f):
    return spread(f) > NOISY or (f.get("foreign_cpu") or 0) > BUSY


def other(f):
    fc = f.get("foreign_cpu")
    return "—" if fc is None else ("%.2f" % fc) + (" ⚠" if fc > BUSY else "")


def cell(text):
    return str(text).replace("|", "\\|")


def figure_rows(figs, section):
    rows = []
    for f in figs.values():
        if f["section"] != section:
            continue
        base = figs.get(f.get("baseline") or "")
        lim, p = f.get("limit"), pct_limit(f)
        tg = [check(f, t, figs) for t in f["targets"]]
        rows.append("| %s`%s` | %s | %s – %s | %s | %s | %s | %s | %s | %s |" % (
            cell(f["label"]) + " ", f["id"], fmt(f["median"], f["unit"]),
            fmt(f["min"]), fmt(f["max"]) + (" ⚠" if spread(f) > NOISY else ""), other(f),
            ("`%s` %s" % (base["id"], fmt(base["median"], base["unit"]))) if base else "—",
            fmt(ratio(f, figs), "×") if base else "—",
            ("%s (%s)" % (fmt(lim["value"], f["unit"]), cell(lim["what"]))) if lim else "—",
            ("%.0f%%" % p) if p is not None else "—",
            "<br>".join("%s %s" % (t, verdict(ok)) for t, ok in tg) or "—"))
    return rows


def fio_rows(figs):
    rows = []
    for f in figs.values():
        if f["section"] != "fio":
            continue
        x, p = f["extra"], pct_limit(f)
        rows.append("| %s | %s | %s | %d | %s (%s – %s) | %s | %s | %s | %s | %s | %s |" % (
            x["state"], x["engine"], x["bs"], x["jobs"], fmt(f["median"]), fmt(f["min"]),
            fmt(f["max"]) + (" ⚠" if spread(f) > NOISY else ""), other(f),
            fmt(x["iops"]["median"]),
            fmt(x["p99_ms"]["median"]), fmt(ratio(f, figs), "×") if f.get("baseline")
            else "—", ("%.0f%%" % p) if p is not None else "—",
            "<br>".join("%s %s" % (t, verdict(ok)) for t, ok in
                        (check(f, t, figs) for t in f["targets"])) or "—"))
    return rows


def targets_table(figs):
    out = ["| figure | target | median | result |", "|---|---|---|---|"]
    npass = nfail = 0
    for f in figs.values():
        for t in f["targets"]:
            text, ok = check(f, t, figs)
            npass += ok is True
            nfail += ok is False
            out.append("| `%s` %s | %s | %s | %s |" % (f["id"], cell(f["label"]), text,
                                                     fmt(f["median"], f["unit"]), verdict(ok)))
    return ["**%d PASS, %d FAIL.**" % (npass, nfail), ""] + out


def gaps(figs):
    """Failed targets, worst first, as how far the figure is from its target."""
    miss = []
    for f in figs.values():
        for t in f["targets"]:
            text, ok = check(f, t, figs)
            if ok is False:
                have = f["median"] / figs[t["vs"]]["median"] if t["vs"] else f["median"]
                short = have / t["value"] if t["op"] == ">=" else t["value"] / have
                miss.append((short, f["id"], text))
    if not miss:
        return []
    miss.sort()
    return ["Biggest gaps (figure reaches this fraction of its target):", ""] + [
        "%d. `%s`: %.0f%% of target (%s)" % (i + 1, fid, 100 * short, text)
        for i, (short, fid, text) in enumerate(miss)] + [""]


def cpu_table(figs, cores):
    """The whole machine's CPU per payload byte behind each figure that recorded it."""
    rows = []
    for f in figs.values():
        x = f.get("extra") or {}
        if x.get("cpu_ns_per_byte"):
            ns, busy = x["cpu_ns_per_byte"], x["busy_cores"]
            rows.append("| %s`%s` | %s | %s (%s – %s) | %s (%s – %s) |" % (
                cell(f["label"]) + " ", f["id"], fmt(f["median"], f["unit"]),
                fmt(statistics.median(ns)), fmt(min(ns)), fmt(max(ns)),
                fmt(statistics.median(busy)), fmt(min(busy)), fmt(max(busy))))
    if not rows:
        return []
    return ["## CPU per byte", "",
            "CPU-time of the whole machine (every process and kernel thread; not idle, iowait "
            "or steal, from /proc/stat) over each timed read, per payload byte, and the "
            "cores it kept busy (of %d). Medians, min – max over the runs. A figure near "
            "%d busy cores is CPU-bound. The cold reads' CPU ceiling in *Sequential reads* "
            "is built from these and the limits above." % (cores, cores), "",
            "| figure | median | CPU ns per byte | busy cores |", "|---|---|---|---|"] + rows + [""]


def machine(meta):
    m, d = meta["machine"], meta["machine"]["disk"]
    bg = meta["background_cpu_busy"]
    size = ("%.0f GiB" % (int(d["size_sectors"]) * 512 / 2**30)
            if str(d.get("size_sectors", "")).isdigit() else "?")
    return [
        "| | |", "|---|---|",
        "| CPU | %s%s |" % (m["cpu_model"], ", flags: " + " ".join(m["cpu_flags"])
                            if m.get("cpu_flags") else ""),
        "| cores | %d (virtualisation: %s) |" % (m["cores"], m["virt"]),
        "| RAM | %.1f GiB |" % (m["ram_bytes"] / 2**30),
        "| kernel | %s |" % m["kernel"],
        "| disk | %s, %s, %s, rotational=%s, scheduler %s, model %s |" % (
            d["device"], d["fstype"], size, d["rotational"], d["scheduler"], d["model"]),
        "| tools | %s |" % "; ".join("%s: %s" % (k, v if len(v) < 50 else " ".join(
            v.split()[:2])) for k, v in meta["tools"].items()),
        "| machine busy before / after the run (2 s idle samples) | %.0f%% / %.0f%% "
        "(steal %.1f%% / %.1f%%) |" % (100 * bg["before"], 100 * bg["after"],
                                      100 * bg["steal_before"], 100 * bg["steal_after"]),
    ]


def load_note(figs, meta):
    fc = meta.get("foreign_cpu")
    busy = [f["id"] for f in figs.values() if (f.get("foreign_cpu") or 0) > BUSY]
    noisy = [f["id"] for f in figs.values() if spread(f) > NOISY]
    lines = []
    if fc:
        lines += ["**Other work on the machine** (CPU of processes the benchmark did not start, "
                  "sampled every %.1f s; column \"other work\", in cores of %d): mean %.2f, "
                  "p90 %.2f, max %.2f cores." % (fc["period_s"], meta["machine"]["cores"],
                                                 fc["mean"], fc["p90"], fc["max"]), ""]
    if busy:
        lines += ["Figures measured while other work used more than %.2f cores (⚠ in "
                  "\"other work\"; likely distorted): %s." % (BUSY, ", ".join(
                      "`%s`" % n for n in busy)), ""]
    if noisy:
        lines += ["Figures whose min–max spread exceeds %d%% of the median (⚠ after the max): "
                  "%s." % (NOISY * 100, ", ".join("`%s`" % n for n in noisy)), ""]
    return lines


HEAD = """# mpackfs benchmarks

Written by `make bench` (scripts/bench.sh, scripts/bench/*.py) — do not edit by hand; the raw
figures are in [benchmarks.json](benchmarks.json). Re-render with
`/usr/bin/python3 scripts/bench/report.py`.
"""

SETTLE = """Every `drop_caches` below is followed by a %g s pause (BENCH_SETTLE): this VM
  hands freed memory back to the host about 2 s after a large free, so each run then starts
  on memory the host must fault in again (see BENCHMARKS-history.md, *This VM charges for fresh memory*)."""
NO_SETTLE = """No pause after `drop_caches` (BENCH_SETTLE=0) except where a bullet below says
  so (warm, warm_blocks and their local runs; `lim.fresh_write`): runs may start while the
  VM is still handing freed memory back to the host."""

FIO_NOTE = """- "% of hot": the figure against the same job on the local files already in page cache
  (state hot), the fastest this kernel serves that access pattern: no filesystem, FUSE or
  not, can beat it, so it is each row's physical limit.
- The 8-reader target compares aggregate throughput: 8 readers together keep at least 0.7× of
  what one reader moves alone. Per reader that is 0.7 ÷ 8 ≈ 0.09×. A reader that keeps one
  core busy alone can get about 2 ÷ 8 = 0.25× of it with 8 readers on 2 cores, so the
  per-reader form cannot hold on this machine for a CPU-bound reader."""

METHOD = """## Method

- Data: {nshards} safetensors-like shards ({shard_mib:.0f} MiB in all: a valid header, then
  seeded random bytes) packed twice, with 1 MiB leaves (`{cid1m}`) and with 256 KiB leaves
  (`{cid256}`), plus a {gguf_mb:.0f} MB llama GGUF (`{cidgguf}`). Blocks are extracted from the
  CARs and served by nginx on 127.0.0.1 as static files under `/ipfs/`; the original files
  under `/files/` for the HTTP baselines. nginx runs 32 workers (`worker_processes 32`),
  `sendfile on`, no access log: a worker blocks on the disk read behind each sendfile, so
  with one per core (Debian's default) cold block requests queue behind each other's disk
  reads, unlike a gateway serving each request on its own thread or goroutine (Kubo).
- Every figure is the median and min–max of at least **{runs} runs**{quick} (warm reads
  and their local runs twice as many, llama.cpp 11 rounds in a full run), except
  `m*.cache_ratio_warm`, one `du` of the warm cache. MB/s = 10^6 bytes/s of shard payload.
- {settle}
- cold: fresh `--cache-dir`, `sync; echo 3 > /proc/sys/vm/drop_caches`, mpackfs started before
  the timed read (mount time not included; the manifest load is). Baselines drop the page
  cache the same way (nginx then reads from disk too).
- warm: every block already in the mpackfs cache and every file's passthrough copy made,
  page cache dropped, **mpackfs restarted** before each run (no state kept in the process).
  Baseline (`m*.local_cold`): the same files on local disk after drop_caches, read in runs
  interleaved with the warm ones (local, mount, mount, local, ...). `m*.warm_blocks` (the
  block cache alone, `-o passthrough=false`) runs in the same rotation. Every one of these
  runs starts 3 s after its `drop_caches`: on this VM a buffered read into memory the host
  has not yet taken back runs at about 1.7 GB/s, into memory it has at about 0.5 GB/s (3
  rounds by hand, `dd` of the four shards: 1612 / 1801 / 1779 MB/s at once, 512 / 540 / 514
  after 3 s), and without the pause which of the two a run met was chance. The pause puts
  most runs of both sides in the second state; the second of two back-to-back runs of the
  same kind still often reads faster, and the rotation gives each side as many of those.
  Warm and its baseline run twice as often as the other figures.
- hot: right after a warm read, same mount, page cache kept. Baseline (`m*.local_hot`):
  local files in page cache, runs interleaved with the mount's the same way.
- fio: `--readonly --rw=randread --time_based --runtime={fio}` over the four shards
  (`--filename=a:b:c:d`, `--size` = 4 × the smallest shard), `--group_reporting`; page cache
  dropped before each run (and a fresh cache + fresh mount for cold). State hot: the local
  files read into page cache first, `--invalidate=0`, 3 s runs. MB/s is the aggregate
  of all jobs; p99 is the completion latency. The working set fits in RAM, so within a run
  re-touched data comes from the page cache (for local files and the mount alike); for the
  mount, a 4 KiB miss makes the kernel and mpackfs read whole leaves, which warms
  neighbouring data.
- Loaders (llama.cpp, PyTorch): local and warm-mount runs alternate (local, mount, mount,
  local, ...), so the VM's drift in disk and fresh-memory speed hits both sides; llama.cpp
  runs 11 rounds in a full run, with a third side through fusefloor (the three rotate, in
  alternating direction). `extra.pair_ratios` lists each round's mount (or floor) ÷ local.
- fusefloor (`floor.*`, `llama.floor`): the cheapest FUSE server, built from
  `scripts/bench/fusefloor.c` with no mpackfs code. It serves the local files read-only with
  mpackfs's FUSE settings (async reads, `keep_cache`, 64 background requests, `clone_fd`,
  `read_ahead_kb` 4096), replies from a map of the file and reads 16 MiB ahead of a
  sequential reader; no verification, no cache. Its ratio to local disk is what the kernel's
  FUSE path costs on this machine, for any server.
- "other work": CPU used by processes the benchmark did not start (other users of the
  machine), averaged over the figure's runs. The 1-minute load average before each run is
  in benchmarks.json (`extra.load`); it includes the benchmark's own processes.
- Physical limits are measured on this machine in the same run: one-core SHA-256, memory
  copy, page-cache fill, loopback HTTP with the file in page cache, small-request latency,
  local disk. "% of limit" is median ÷ limit (limit ÷ median where lower is better: times,
  sizes).
- Block fetch (`http.blocks_*`): what the block-by-block protocol costs before any hashing,
  caching or FUSE. `curl -Z` fetches every leaf block of the four shards, in file order, from
  the same nginx to /dev/null, page cache dropped, with as many requests at once as mpackfs
  keeps in flight to one source (`--parallel-max` 8 at 1 MiB leaves, 24 at 256 KiB): one
  request per leaf (`extra.requests`: 2052 with 1 MiB leaves, 8196 with 256 KiB leaves in a
  full run), against one per shard for `curl -o /dev/null`.
- A cold read's limit includes its CPU ceiling: the cores divided by the CPU-time each byte
  needs at the least, each part measured in this run: the HTTP transfer (the machine's CPU
  per byte during the block fetch of the same pack, i.e. nginx, loopback, socket receive and
  one request per block; `curl -o /dev/null` if that figure is missing), SHA-256 on one
  core, one page-cache fill (the cache file's pages, from LMDB's write; cold opens are
  direct, so the FUSE file's pages are not filled) at `lim.pagecache_fill`, and the copy to
  the reader at `lim.memcpy`. `lim.pagecache_fill` is measured the way the cache writes:
  a stream of 256 KiB writes with write-back started every 4 MiB and pages dropped 64 MiB
  behind, so the kernel reuses the pages it drops; its CPU is the whole machine's (write-back
  and reclaim included). mpackfs's own per-block work (LMDB's bookkeeping, hand-offs between
  threads), FUSE requests and everything else it does count against it: a run above this
  ceiling would mean one of its parts was measured too high. `mpack prefetch`'s ceiling has
  the one fill and no reader.
"""


def render(doc):
    meta, figs = doc["meta"], {f["id"]: f for f in doc["figures"]}
    p = meta["packs"]
    out = [HEAD, "Mode **%s**, %s, %s, commit `%s`, took %.0f s." % (
        meta["mode"], meta["date"], "%d runs per figure" % meta["runs"], meta["git"],
        meta["duration_s"]), ""]
    if meta["mode"] == "quick":
        out += ["> Quick mode (BENCH_QUICK=1): 256 MiB of shards, %d runs per figure, fio "
                "runtime %d s, fio's mmap engine only on the warm mount and with one job, no fio "
                "runs on hot local files (so fio rows have no limit). Figures are "
                "indicative only; run `make bench` for the full set."
                % (meta["runs"], meta["fio_runtime_s"]), ""]
    out += ["## Machine", ""] + machine(meta) + [""] + load_note(figs, meta) + [""]
    out += ["## Targets", ""] + targets_table(figs) + [""] + gaps(figs)
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                         "BENCHMARKS-analysis.md")
    if os.path.exists(notes):  # hand-written: why each gap is what it is, kept across runs
        with open(notes) as fh:
            out += ["", fh.read().rstrip(), ""]
    cols = ("| figure | median | min – max | other work | baseline | × baseline | "
            "physical limit | % of limit | target |")
    for sec, title in SECTIONS:
        rows = figure_rows(figs, sec)
        if rows:
            out += ["## " + title, "", cols, "|---|---|---|---|---|---|---|---|---|"] + rows + [""]
            notes = sorted({f["note"] for f in figs.values() if f["section"] == sec
                            and f.get("note")})
            out += ["- " + n for n in notes] + ([""] if notes else [])
    out += cpu_table(figs, meta["machine"]["cores"])
    rows = fio_rows(figs)
    if rows:
        out += ["## Random reads (fio)", "",
                "| state | engine | bs | jobs | MB/s median (min – max) | other work | IOPS | "
                "p99 ms | × local | % of hot | target |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        out += rows + ["", FIO_NOTE, ""]
    folios = [(f["id"], f["extra"]["folio_pages"]) for f in figs.values()
              if (f.get("extra") or {}).get("folio_pages")]
    if folios:
        out += ["## Page-cache folios behind the hot reads", "",
                "Mean folio size, in 4 KiB pages, of the page cache holding the first 64 MiB "
                "of shard 1 after the hot runs (pagemap + kpageflags). A hot read never "
                "reaches mpackfs: it is the kernel copying out of these folios.", "",
                "| figure | mount (FUSE) | local (ext4) |", "|---|---|---|"] + [
            "| `%s` | %.1f | %.1f |" % (fid, x["mount"], x["local"]) for fid, x in folios] + [""]
    if doc.get("skipped"):
        out += ["## Skipped or failed", ""] + [
            "- %s%s: %s" % ("**ERROR** " if s.get("error") else "", s["label"],
                            cell(s["reason"]).replace("\n", " ")) for s in doc["skipped"]] + [""]
    crashes = meta.get("mpackfs_crashes") or []
    if crashes:
        sigs = sorted({c["signal"] for c in crashes})
        out += ["## mpackfs crashes", "",
                "**%d mpackfs processes died from signal %s during this run.** A run that "
                "failed because of a crash was repeated (up to %d times); figures come from "
                "completed runs only. First logs:" % (len(crashes), "/".join(map(str, sigs)),
                                                      meta.get("retries", 0)), ""] + [
            "- signal %d, %s: last line `%s`" % (c["signal"], c["log"], cell(
                (c["log_tail"].strip().splitlines() or ["(empty log)"])[-1]))
            for c in crashes[:5]] + [""]
    out.append(METHOD.format(
        nshards=len(meta["data"]["shards"]), shard_mib=meta["data"]["shard_bytes"] / 2**20,
        cid1m=p.get("1m", {}).get("manifest_cid", "?"),
        cid256=p.get("256k", {}).get("manifest_cid", "?"),
        cidgguf=p.get("gguf", {}).get("manifest_cid", "?"),
        gguf_mb=meta["data"]["gguf_bytes"] / 1e6, runs=meta["runs"],
        quick=" (quick mode: 3 runs, fewer than the 5 of a full run)"
        if meta["mode"] == "quick" else "", fio="%d" % meta["fio_runtime_s"],
        settle=SETTLE % meta["settle_s"] if meta.get("settle_s") else NO_SETTLE))
    return "\n".join(out) + "\n"


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "benchmarks.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(src),
                                                             "BENCHMARKS.md")
    with open(src) as fh:
        doc = json.load(fh)
    with open(dst, "w") as fh:
        fh.write(render(doc))


if __name__ == "__main__":
    main()
