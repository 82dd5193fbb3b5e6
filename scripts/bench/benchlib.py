#!/usr/bin/python3
"""benchlib: shared plumbing for `make bench` — processes and mounts that are always cleaned up,
page-cache drops, timing, statistics, the results table and machine facts.

Every process the benchmark starts is registered here (and its pid written to RUN_DIR/pids so
scripts/bench.sh can kill it if Python itself dies); every FUSE mount is registered and
unmounted on exit, on an exception or on SIGINT/SIGTERM/SIGHUP.
"""
import atexit
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("MPACK_BUILD", "build"))
MPACK = os.path.join(BUILD, "mpack")
MPACKFS = os.path.join(BUILD, "mpackfs")
FUSEFLOOR = os.path.join(BUILD, "fusefloor")
PY = "/usr/bin/python3"
MB = 1e6
MiB = 1 << 20

_procs = []     # live subprocess.Popen objects we started
_mounts = []    # mountpoints we mounted (FUSE)
_nginx = []     # nginx procs (stopped with the fixture's stop())
CRASHES = []    # mpackfs processes that died from a signal: {signal, log_tail}
RUN_DIR = None  # where the pid file lives (set by init_run_dir)


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process and mount registry

def init_run_dir(path):
    global RUN_DIR
    RUN_DIR = path
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "pids"), "w"):
        pass


def _note_pid(pid, token):
    """Record 'PID TOKEN' for bench.sh's trap; it kills PID only while its command line
    still contains TOKEN (so a recycled pid is never hit)."""
    if RUN_DIR:
        with open(os.path.join(RUN_DIR, "pids"), "a") as fh:
            fh.write("%d %s\n" % (pid, token))


def spawn(argv, token, **kw):
    """Popen that is registered for cleanup; token: an argument unique to this process."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, **kw)
    _procs.append(p)
    _note_pid(p.pid, token)
    return p


def reap(p, timeout=10):
    """Terminate (if needed) and wait for a registered process."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _procs:
        _procs.remove(p)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            f = line.split()
            if len(f) > 4 and f[4].replace("\\040", " ") == path:
                return True
    return False


def wait_mounted(path, proc, timeout=30.0):
    """Poll mountinfo every ms until path is a mount and its root answers stat."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if is_mounted(path):
            os.stat(path)
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %d before mounting %s"
                               % (proc.args[0], proc.returncode, path))
        time.sleep(0.001)
    raise RuntimeError("%s did not appear as a mount within %.0f s" % (path, timeout))


def unmount(path, proc=None, timeout=20):
    """fusermount3 -u (then -uz), then wait for the daemon."""
    if is_mounted(path):
        r = subprocess.run(["fusermount3", "-u", path], capture_output=True, text=True)
        if r.returncode != 0:
            time.sleep(0.2)
            if is_mounted(path):
                subprocess.run(["fusermount3", "-uz", path], capture_output=True)
    if path in _mounts:
        _mounts.remove(path)
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        reap(proc)


def register_mount(path):
    _mounts.append(path)


def register_nginx(proc):
    _nginx.append(proc)
    _note_pid(proc.pid, proc.mpack_dir)


def cleanup():
    for m in list(_mounts):
        try:
            unmount(m)
        except Exception as ex:  # keep going: everything must be torn down
            log("cleanup: unmount %s: %s" % (m, ex))
    for p in list(_procs):
        reap(p)
    for p in list(_nginx):
        sys.path.insert(0, os.path.join(ROOT, "tests", "fixture"))
        import nginx  # noqa: E402 (the fixture)
        nginx.stop(p)
        _nginx.remove(p)
    if RUN_DIR and not _procs and not _nginx:
        open(os.path.join(RUN_DIR, "pids"), "w").close()


def _on_signal(signum, _frame):
    log("signal %d: cleaning up" % signum)
    raise SystemExit(128 + signum)


def install_cleanup():
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


# ---------------------------------------------------------------- system helpers

SETTLE_S = 0.0  # run.py sets it from BENCH_SETTLE


def drop_caches():
    """Drop the page cache, then wait SETTLE_S (BENCH_SETTLE, default 0). On a VM with free
    page reporting the pause lets the host take the freed memory back first, so every run
    then pays the host's faults on its first writes (BENCHMARKS-history.md measures it)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as fh:
        fh.write("3\n")
    if SETTLE_S > 0:
        time.sleep(SETTLE_S)


def folio_pages(path, length=64 * MiB):
    """Mean size, in pages, of the page-cache folios that hold the first `length` bytes of
    `path` (at most the file's size). Maps the file privately and reads each page (no I/O if
    the pages are cached; reads map the cache's own pages), then looks the pages up in
    /proc/self/pagemap and /proc/kpageflags (root only)."""
    import ctypes
    import mmap
    import struct
    length = min(length, os.path.getsize(path)) // 4096 * 4096
    with open(path, "rb") as fh:
        m = mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_COPY)
    try:
        sum(m[off] for off in range(0, length, 4096))
        ref = ctypes.c_char.from_buffer(m)
        base = ctypes.addressof(ref) // 4096
        del ref
        heads = tails = single = 0
        with open("/proc/self/pagemap", "rb") as pm, open("/proc/kpageflags", "rb") as kf:
            pm.seek(base * 8)
            for e in struct.unpack("%dQ" % (length // 4096), pm.read(length // 4096 * 8)):
                if not e >> 63:
                    continue
                kf.seek((e & ((1 << 55) - 1)) * 8)
                f = struct.unpack("Q", kf.read(8))[0]
                if f >> 15 & 1:  # KPF_COMPOUND_HEAD
                    heads += 1
                elif f >> 16 & 1:  # KPF_COMPOUND_TAIL
                    tails += 1
                else:
                    single += 1
    finally:
        m.close()
    if not heads + single:
        raise RuntimeError("no resident pages of %s in pagemap" % path)
    return (heads + tails + single) / (heads + single)


def run(argv, check=True, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv[:4]), r.returncode,
                                                   (r.stderr or r.stdout).strip()[-2000:]))
    return r


def timed(fn, *a, **kw):
    t = time.perf_counter()
    fn(*a, **kw)
    return time.perf_counter() - t


def dd_read(path, bs="4M"):
    """Read a file to /dev/null with dd; returns bytes read."""
    r = run(["dd", "if=" + path, "of=/dev/null", "bs=" + bs])
    m = re.search(r"^(\d+) bytes", r.stderr, re.M)
    return int(m.group(1)) if m else 0


def loadavg():
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def cpu_busy(seconds=2.0):
    """Fraction of all CPUs busy (incl. steal) over an interval, sampled from /proc/stat."""
    def snap():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v[:8]) - idle, sum(v[:8]), v[7]
    b0, t0, s0 = snap()
    time.sleep(seconds)
    b1, t1, s1 = snap()
    tot = max(1, t1 - t0)
    return (b1 - b0) / tot, (s1 - s0) / tot


def busy_cpu_s():
    """CPU-seconds the whole machine has spent busy since boot (user, nice, system, irq,
    softirq: every process and kernel thread; not idle, iowait or steal), from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:8]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


class CpuSpan:
    """Machine CPU used inside a with-block: .cpu_s (CPU-seconds, all cores) and .wall_s."""

    def __enter__(self):
        self._c, self._t = busy_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu_s = busy_cpu_s() - self._c
        self.wall_s = time.perf_counter() - self._t
        return False


def proc_status(pid, key):
    """A /proc/PID/status value in bytes (VmHWM, VmRSS), or None."""
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class RssSampler:
    """Samples /proc/PID/status every `period` s in a thread; peaks of VmRSS and RssAnon."""

    def __init__(self, pid, period=0.02):
        self.pid, self.period = pid, period
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for k in self.peak:
                v = proc_status(self.pid, k)
                if v is not None and v > self.peak[k]:
                    self.peak[k] = v
            self._stop.wait(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class CpuWatch:
    """Background sampler of CPU used by processes that are *not* ours (not descendants of
    this process, not kernel threads), in cores, every `period` s: tells whether other work
    on the machine disturbed a figure."""

    def __init__(self, period=0.5):
        self.period, self.samples = period, []   # (monotonic time, foreign cores, own cores)
        self.me, self.hz = os.getpid(), os.sysconf("SC_CLK_TCK")
        self._prev, self._own = {}, {os.getpid()}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _snap():
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            kthread = int(f[6]) & 0x00200000  # PF_KTHREAD
            out[int(d)] = (int(f[1]), int(f[11]) + int(f[12]), kthread)
        return out

    def _run(self):
        self._prev, t_prev = self._snap(), time.monotonic()
        while not self._stop.wait(self.period):
            cur, now = self._snap(), time.monotonic()
            for pid, (ppid, _, _) in sorted(cur.items()):
                if ppid in self._own:
                    self._own.add(pid)
            foreign = own = 0
            for pid, (_, ticks, kthread) in cur.items():
                d = ticks - self._prev.get(pid, (0, 0, 0))[1]
                if kthread or d <= 0:
                    continue
                if pid in self._own:
                    own += d
                else:
                    foreign += d
            dt = max(1e-3, now - t_prev)
            self.samples.append((now, foreign / self.hz / dt, own / self.hz / dt))
            self._prev, t_prev = cur, now
            self._own &= set(cur) | {self.me}

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join()

    def foreign(self, t0, t1):
        """Mean cores used by other processes between monotonic times t0 and t1 (None if no
        sample fell in the window)."""
        v = [f for t, f, _ in self.samples if t0 <= t <= t1 + self.period]
        return sum(v) / len(v) if v else None


def du_bytes(path, apparent=False):
    r = run(["du", "-s", "-b" if apparent else "-B1", path])
    return int(r.stdout.split()[0])


# ---------------------------------------------------------------- results

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


class Results:
    """An ordered set of figures. Each figure: id, section, label, unit, better ('higher' or
    'lower'), runs (list), median/min/max, optional baseline id, limit {value, what},
    targets [{vs, op, value, text}], note."""

    def __init__(self, watch=None):
        self.figs = {}
        self.skipped = []
        self.watch = watch
        self._mark, self._last_foreign = time.monotonic(), None

    def mark(self):
        """Start the next figure's window for the other-work CPU figure here."""
        self._mark = time.monotonic()

    def _foreign(self):
        """Other work's CPU (cores) since the previous figure; a figure measured in the same
        runs as the one before it (window under 1 s) shares that figure's value."""
        now = time.monotonic()
        if self.watch is None:
            return None
        if now - self._mark >= 1.0:
            self._last_foreign = self.watch.foreign(self._mark, now)
        self._mark = now
        return self._last_foreign

    def add(self, fid, section, label, unit, runs, better="higher", baseline=None,
            limit=None, targets=None, note=None, extra=None):
        if not runs:
            raise ValueError("figure %s has no runs" % fid)
        f = {"id": fid, "section": section, "label": label, "unit": unit, "better": better,
             "runs": [round(x, 6) for x in runs], "baseline": baseline, "limit": limit,
             "targets": targets or [], "note": note}
        f.update({k: round(v, 6) if isinstance(v, float) else v
                  for k, v in summary(runs).items()})
        if extra:
            f["extra"] = extra
        fc = self._foreign()
        f["foreign_cpu"] = round(fc, 3) if fc is not None else None
        self.figs[fid] = f
        log("%-24s %s: median %.4g %s (min %.4g, max %.4g, n=%d; other work %s cores)"
            % (fid, label, f["median"], unit, f["min"], f["max"], f["n"],
               "?" if fc is None else "%.2f" % fc))
        return f

    def skip(self, section, label, reason, error=False):
        self.skipped.append({"section": section, "label": label, "reason": reason,
                             "error": error})
        log("%s %s: %s" % ("ERROR" if error else "SKIPPED", label, reason))

    def get(self, fid):
        return self.figs.get(fid)


# ---------------------------------------------------------------- machine facts

def _read(path, default=""):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return default


def machine_facts(data_dir):
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    flags = next((ln.split(":", 1)[1].split() for ln in _read("/proc/cpuinfo").splitlines()
                  if ln.startswith("flags")), [])
    mem = _read("/proc/meminfo").splitlines()[0].split()[1]
    dev = run(["findmnt", "-no", "SOURCE,FSTYPE", "-T", data_dir], check=False).stdout.split()
    disk = {"device": dev[0] if dev else "?", "fstype": dev[1] if len(dev) > 1 else "?"}
    base = os.path.basename(disk["device"])
    for key, f in (("rotational", "queue/rotational"), ("scheduler", "queue/scheduler"),
                   ("model", "device/model"), ("size_sectors", "size")):
        disk[key] = _read("/sys/block/%s/%s" % (base, f), "?")
    if disk["model"] == "?" and _read("/sys/block/%s/device/vendor" % base, ""):
        disk["model"] = "%s (virtio, vendor %s)" % (
            os.path.basename(os.path.realpath("/sys/block/%s/device/driver" % base)),
            _read("/sys/block/%s/device/vendor" % base))
    virt = run(["systemd-detect-virt"], check=False).stdout.strip() if shutil.which(
        "systemd-detect-virt") else ""
    hyp = re.search(r"Hypervisor vendor:\s*(\S+)", run(["lscpu"], check=False).stdout)
    if hyp:
        virt = (virt + " on " if virt and virt != "none" else "") + hyp.group(1) + " guest"
    return {"cpu_model": cpu, "cpu_flags": [f for f in ("sha_ni", "avx2", "avx512f", "aes")
                                            if f in flags], "cores": os.cpu_count(), "ram_bytes": int(mem) * 1024,
            "kernel": platform.release(), "disk": disk, "virt": virt or "?",
            "python": platform.python_version()}


def tool_versions():
    out = {}
    for name, argv in (("nginx", ["/usr/sbin/nginx", "-v"]), ("curl", ["curl", "--version"]),
                       ("rclone", ["rclone", "version"]), ("fio", ["fio", "--version"]),
                       ("mpackfs", [MPACKFS, "--version"]), ("node", ["node", "--version"])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            text = (r.stdout or r.stderr).strip().splitlines()
            out[name] = text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            out[name] = "missing"
    return out


def git_head():
    r = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=False)
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                check=False).stdout.strip()
    return (r.stdout.strip() or "?") + ("+dirty" if dirty else "")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- FUSE mounts under test

class Mpackfs:
    """One mpackfs process: start() mounts (returns seconds until the mount answers),
    stop() unmounts and waits. Logs go to LOGDIR/mpackfs-N.log."""
    count = 0

    def __init__(self, mnt, gateway, cache_dir, logdir, extra=()):
        self.mnt, self.gateway, self.cache_dir = mnt, gateway, cache_dir
        self.logdir, self.extra, self.proc = logdir, list(extra), None

    def start(self):
        Mpackfs.count += 1
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)
        self.log = os.path.join(self.logdir, "mpackfs-%d.log" % Mpackfs.count)
        argv = [MPACKFS, self.mnt, "-f", "--gateway", self.gateway, "--cache-dir",
                self.cache_dir, "--log-level", "info"] + self.extra
        env = dict(os.environ, MPACKFS_GATEWAYS=self.gateway)
        env.pop("MPACKFS_OFFLINE", None)
        with open(self.log, "w") as fh:
            t = time.perf_counter()
            self.proc = spawn(argv, self.mnt, stdout=fh, stderr=subprocess.STDOUT, env=env)
            register_mount(self.mnt)
            try:
                wait_mounted(self.mnt, self.proc)
            except RuntimeError as ex:
                raise RuntimeError("%s; log %s:\n%s" % (ex, self.log, _read(self.log)[-2000:]))
            return time.perf_counter() - t

    @property
    def pid(self):
        return self.proc.pid

    def stats(self):
        with open(os.path.join(self.mnt, ".mpackfs", "stats")) as fh:
            return json.load(fh)

    def stop(self):
        if self.proc is not None:
            unmount(self.mnt, self.proc)
            if self.proc.returncode is not None and self.proc.returncode < 0:
                tail = _read(self.log)[-1500:]
                CRASHES.append({"signal": -self.proc.returncode, "log": self.log,
                                "log_tail": tail})
                log("mpackfs (pid %d) died from signal %d; log %s"
                    % (self.proc.pid, -self.proc.returncode, self.log))
            self.proc = None


class FuseFloor:
    """fusefloor (scripts/bench/fusefloor.c) serving the regular files of src on mnt: the
    cheapest FUSE server, a baseline for what the kernel's FUSE path costs on this machine.
    Used as a context manager."""

    def __init__(self, src, mnt, logdir):
        self.src, self.mnt, self.proc = src, mnt, None
        self.log = os.path.join(logdir, "fusefloor.log")

    def __enter__(self):
        os.makedirs(self.mnt, exist_ok=True)
        with open(self.log, "a") as fh:
            self.proc = spawn([FUSEFLOOR, self.src, self.mnt], self.mnt, stdout=fh,
                              stderr=subprocess.STDOUT)
        register_mount(self.mnt)
        wait_mounted(self.mnt, self.proc)
        return self

    def __exit__(self, *exc):
        unmount(self.mnt, self.proc)
        return False


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path
