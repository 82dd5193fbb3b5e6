"""test_cache_crash: cache writers killed with SIGKILL at random moments; after each kill the
cache must open, agree with itself, verify every block, and stay within its size bound.

Uses tests/tools/cachetool: $MPACK_BUILD/cachetool if it was built, else compiled here from
the current sources.
"""
import os
import pathlib
import random
import signal
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = os.environ.get("MPACK_BUILD", "build")
MODULES = ["cache", "cache_write", "cache_pages", "cache_pin", "cache_scrub", "cid", "multihash",
           "multibase", "varint", "errbuf", "log", "dynbuf"]
KILLS = 24


@pytest.fixture(scope="module")
def cachetool(tmp_path_factory):
    built = ROOT / BUILD / "cachetool"
    if built.exists():
        return str(built)
    out = tmp_path_factory.mktemp("tool") / "cachetool"
    libs = subprocess.check_output(["pkg-config", "--cflags", "--libs", "lmdb", "libcrypto"],
                                   text=True).split()
    cmd = (["cc", "-std=c11", "-D_GNU_SOURCE", "-D_FILE_OFFSET_BITS=64", "-O2", "-g", "-Isrc",
            "-o", str(out), "tests/tools/cachetool.c"] +
           [f"src/{m}.c" for m in MODULES] + libs + ["-lpthread"])
    subprocess.run(cmd, cwd=ROOT, check=True)
    return str(out)


def check(tool, cache_dir, max_bytes, slack):
    args = [tool, "check", cache_dir, str(max_bytes)] + ([str(slack)] if slack else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    line = r.stdout.splitlines()[0] if r.stdout else ""
    fields = dict(kv.split("=", 1) for kv in line.split())
    return r, fields


@pytest.mark.parametrize("max_bytes,slack", [
    (8 << 20, None),      # default 64 MiB slack: file bound 74 MiB
    (6 << 20, 3 << 20),   # tight map: MDB_MAP_FULL recovery runs too
])
def test_kill9_writers(cachetool, tmp_path, max_bytes, slack):
    cache_dir = str(tmp_path / "cache")
    rnd = random.Random(0x5eed + max_bytes)
    ran = 0
    for i in range(KILLS):
        nwriters = 2 if i % 3 == 2 else 1
        writers = [
            subprocess.Popen([cachetool, "writer", cache_dir, str(max_bytes), str(i * 7 + k + 1)]
                             + ([str(slack)] if slack else []),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for k in range(nwriters)]
        time.sleep(rnd.uniform(0.0, 0.7))
        for w in writers:
            w.send_signal(signal.SIGKILL)
        for w in writers:
            out, err = w.communicate(timeout=30)
            assert w.returncode == -signal.SIGKILL, \
                f"kill {i}: writer ended by itself with {w.returncode}: {err}"
            ran += "running" in out
        r, f = check(cachetool, cache_dir, max_bytes, slack)
        assert r.returncode == 0, f"kill {i}: check failed: {r.stdout} {r.stderr}"
        assert f["scrub_rc"] == "0" and f["consistent"] == "1", f"kill {i}: {r.stdout}"
        assert f["removed"] == "0", f"kill {i}: scrub removed bad blocks: {r.stdout}"
        assert int(f["file"]) <= int(f["bound"]), f"kill {i}: file over bound: {r.stdout}"
        assert int(f["bytes"]) <= max_bytes, f"kill {i}: payload over max: {r.stdout}"
    assert ran >= KILLS // 2, f"writers got going in only {ran} runs"
    assert int(f["blocks"]) > 0, f"nothing cached: {f}"
