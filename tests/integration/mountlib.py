"""mountlib: helpers for the end-to-end mpackfs tests: pack a directory, start and stop a
foreground mpackfs mount, start the fixture gateway, read stats.

Fixtures (import them into a test module: `from mountlib import mounts, gateways`):
  mounts    factory mounts(args, mountpoint=None, cwd=None) -> Mount (mounted and ready). Teardown
            unmounts whatever is still mounted, kills the process, prints every mpackfs
            log (pytest shows it for a failed test) and fails if an mpackfs exited non-zero.
  gateways  factory gateways(*cars, fault=None) -> Gateway (listening). Teardown kills them.
"""
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
sys.path.insert(0, str(TESTS / "gen"))

MOUNT_TIMEOUT = 10.0
# Per test: past this, every mpackfs of the test is SIGKILLed (which unblocks its readers).
WATCHDOG_S = float(os.environ.get("MPACK_TEST_WATCHDOG", "120"))
EPOCH = "1700000000"


def build_dir():
    return (REPO / os.environ.get("MPACK_BUILD", "build")).resolve()


def binary(name):
    path = build_dir() / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (run make, or set MPACK_BUILD)")
    return str(path)


def run(cmd, timeout=120, check=True, **kw):
    """subprocess.run in text mode; a non-zero exit fails the test with stderr."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


# ---- packing ----

def pack(src, work, *extra):
    """mpack pack SRC --car WORK/<name>.car --out WORK/<name>.json --json [extra...].
    Returns the JSON result plus "car" and "manifest" (paths) and "manifest_bytes"."""
    work = pathlib.Path(work)
    work.mkdir(parents=True, exist_ok=True)
    name = pathlib.Path(src).name
    car, out = work / f"{name}.car", work / f"{name}.json"
    p = run([binary("mpack"), "pack", src, "--car", car, "--out", out, "--json", *extra],
            env=dict(os.environ, SOURCE_DATE_EPOCH=EPOCH))
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["car"], res["manifest"] = str(car), str(out)
    res["manifest_bytes"] = out.read_bytes()
    assert res["car_path"] and os.path.samefile(res["car_path"], car), res["car_path"]
    return res


def manifest_entries(manifest):
    """[(filename, entry)] of every shard, the tokenizer and every file of a manifest."""
    m = json.loads(manifest) if isinstance(manifest, (bytes, str)) else manifest
    out = [(e["filename"], e) for e in m.get("shards") or []]
    if m.get("tokenizer"):
        out.append((m["tokenizer"]["filename"], m["tokenizer"]))
    out += [(e["filename"], e) for e in m.get("files") or []]
    return out


def car_blocks(car):
    """Blocks of a CAR as listed by `mpack car ls --json`: [{"cid", "size", "ok"}]."""
    p = run([binary("mpack"), "car", "ls", "--json", car])
    return json.loads(p.stdout)["blocks"]


def tree_files(root):
    """Relative path → bytes of every regular file under root (no hidden names)."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in files:
            if not f.startswith("."):
                p = os.path.join(d, f)
                out[os.path.relpath(p, root)] = pathlib.Path(p).read_bytes()
    return out


# ---- the mount ----

def mountinfo_fstype(path):
    """fstype of the mount at path per /proc/self/mountinfo, or None."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mp = parts[4].replace("\\040", " ")
            if mp == path:
                return parts[parts.index("-") + 1]
    return None


class Mount:
    """One foreground mpackfs process and its mount point."""

    def __init__(self, mountpoint, args, log_path, cwd=None):
        self.mp = str(mountpoint)
        self.args = [str(a) for a in args]
        self.cwd = cwd
        self.log_path = str(log_path)
        self.proc = None
        self.rc = None
        self.started = 0.0

    def start(self):
        os.makedirs(self.mp, exist_ok=True)
        cmd = [binary("mpackfs"), self.mp, "-f", *self.args]
        with open(self.log_path, "ab") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True, cwd=self.cwd)
        self.started = time.monotonic()
        deadline = self.started + MOUNT_TIMEOUT
        while time.monotonic() < deadline:
            if mountinfo_fstype(self.mp) == "fuse.mpackfs":
                return self
            if self.proc.poll() is not None:
                self.rc, self.proc = self.proc.returncode, None
                pytest.fail(f"mpackfs exited {self.rc} before mounting:\n{self.log()}")
            time.sleep(0.02)
        pytest.fail(f"{self.mp} not mounted after {MOUNT_TIMEOUT} s:\n{self.log()}")

    def path(self, *parts):
        return os.path.join(self.mp, *parts)

    def mounted(self):
        return mountinfo_fstype(self.mp) is not None

    def log(self):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")
        except OSError as e:
            return f"(no log: {e})"

    def stats(self):
        with open(self.path(".mpackfs", "stats")) as f:
            return json.load(f)

    def wait_exit(self, timeout):
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def unmount(self, timeout=10.0):
        """fusermount3 -u (then -uz as a last resort), wait for the process; returns its
        exit status (None if it had to be killed)."""
        if self.proc is None:
            return self.rc
        if self.mounted():
            p = subprocess.run(["fusermount3", "-u", self.mp], capture_output=True, text=True)
            if p.returncode != 0:
                subprocess.run(["fusermount3", "-uz", self.mp], capture_output=True)
        if self.proc.poll() is None and self.wait_exit(timeout) is None:
            self.proc.kill()
            self.proc.wait()
            self.rc = None
        else:
            self.rc = self.proc.returncode
        if self.mounted():
            subprocess.run(["fusermount3", "-uz", self.mp], capture_output=True)
        self.proc = None
        return self.rc

    def terminate(self, timeout=10.0):
        """SIGTERM the daemon; returns its exit status, or None if it did not exit."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)


@pytest.fixture
def mounts(tmp_path):
    made = []
    n = [0]
    fired = []

    def watchdog():
        """A hung FUSE request blocks the test in the kernel; killing the daemon aborts the
        connection, so the blocked call fails (ENOTCONN) and the test reports it."""
        fired.append(True)
        for m in made:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.kill()

    timer = threading.Timer(WATCHDOG_S, watchdog)
    timer.daemon = True
    timer.start()

    def factory(args, mountpoint=None, cwd=None):
        n[0] += 1
        mp = mountpoint or tempfile.mkdtemp(prefix="mpkfs.", dir="/tmp")
        m = Mount(mp, args, tmp_path / f"mpackfs-{n[0]}.log", cwd=cwd)
        made.append(m)
        return m.start()

    yield factory
    timer.cancel()
    bad = [f"watchdog: the test ran over {WATCHDOG_S} s; every mpackfs was killed"] if fired \
        else []
    for m in made:
        if m.proc is not None:
            rc = m.unmount()
            if rc != 0:
                bad.append(f"{m.mp}: mpackfs exited {rc} after unmount")
        elif m.mounted():
            subprocess.run(["fusermount3", "-uz", m.mp], capture_output=True)
            bad.append(f"{m.mp}: still mounted after mpackfs exited {m.rc}")
        print(f"---- mpackfs log {m.log_path}\n{m.log()}")
        if m.mp.startswith("/tmp/mpkfs.") and not m.mounted():
            try:
                os.rmdir(m.mp)
            except OSError:
                pass
    assert not bad, "; ".join(bad)


# ---- the fixture gateway ----

class Gateway:
    """tests/fixture/gateway.py serving CAR files on a loopback port."""

    def __init__(self, cars, fault, workdir):
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="gw.", dir=workdir))
        port_file = self.workdir / "port"
        cmd = ["/usr/bin/python3", str(TESTS / "fixture" / "gateway.py"),
               "--port-file", str(port_file)]
        for c in cars:
            cmd += ["--car", str(c)]
        if fault is not None:
            cmd += ["--fault", json.dumps(fault)]
        self.log_path = self.workdir / "gateway.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log)
        deadline = time.monotonic() + 10
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"fixture gateway did not start:\n{self.log_path.read_text()}")
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}"

    def ctl(self, path, body=None):
        """A control-plane call (POST when body is given); returns the JSON answer."""
        req = urllib.request.Request(self.url + path, data=body,
                                     method="POST" if body is not None else "GET")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def faults(self, rules):
        self.ctl("/_fixture/faults", json.dumps(rules).encode())

    def stats(self):
        return self.ctl("/_fixture/stats")

    def reset(self):
        req = urllib.request.Request(self.url + "/_fixture/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def gateways(tmp_path):
    made = []

    def factory(*cars, fault=None):
        g = Gateway(cars, fault, tmp_path)
        made.append(g)
        return g

    yield factory
    for g in made:
        g.stop()


def closed_port():
    """A loopback port with nothing listening (bound, then closed)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def resident(path):
    """Bytes of `path` in the page cache."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def blocks_for(size):
    """st_blocks the filesystem should report for a file of size bytes."""
    return math.ceil(size / 512)
