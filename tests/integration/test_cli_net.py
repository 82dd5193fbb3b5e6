"""The transferring commands of `mpack` over loopback: prefetch (parallel, resumable, FILE
selection, failures), pin/unpin, progress output as a terminal bar (through a pty) and as
JSON lines, publish to the fixture's Kubo /api/v0/dag/import and back through it as a
gateway, Kubo errors surfaced, and an offline mount of an imported cache. Sources are
always explicit (the fixture gateway, a private HTTP server, or --offline)."""
import json
import os
import pathlib
import pty
import select
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mountlib import gateways  # noqa: F401  (the shared fixture gateway)
from test_cli import (CHUNK, MODEL_FILES, car_sections, car_subset, clean_env, fails, leaf_cids,
                      make_pack, mp, ok)





@pytest.fixture(scope="module")
def pack(mpack, tmp_path_factory):
    return make_pack(mpack, tmp_path_factory.mktemp("netpack"), "model", MODEL_FILES)


def json_lines(text):
    lines = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    assert lines and lines[-1].get("done") is True, text
    return lines[:-1], lines[-1]


PROGRESS_KEYS = {"done_bytes", "total_bytes", "blocks_done", "blocks_total", "rate"}


# ---- prefetch and pin ----

def test_prefetch_json_and_resume_counts(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    cdir = tmp_path / "c"
    p = ok(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", cdir, pack["manifest"],
              "-j", 4))
    lines, last = json_lines(p.stdout)
    assert all(set(ln) == PROGRESS_KEYS for ln in lines)
    total = last["blocks_total"]
    assert last["blocks_done"] == total and last["failed"] == 0 and last["errors"] == []
    # The walk itself fetches the manifest and the files' internal nodes; whether those
    # count as present or fetched depends on timing, every leaf is fetched by prefetch.
    stats = g.ctl("/_fixture/stats")
    assert last["present"] + last["fetched"] == total and last["fetched"] >= 1
    assert stats["requests"] == total, f"each block fetched once: {stats['requests']} != {total}"
    assert last["done_bytes"] == last["total_bytes"]
    assert last["cid"] == pack["manifest"] and not last["interrupted"] and not last["pinned"]
    # Everything is local now: a second run transfers nothing.
    g.ctl("/_fixture/reset", b"")
    _, again = json_lines(ok(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", cdir,
                                pack["manifest"])).stdout)
    assert again["present"] == total and again["fetched"] == 0
    assert g.ctl("/_fixture/stats")["requests"] == 0
    ok(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["manifest"]))
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert {"cid": pack["manifest"], "label": "model"} in st["packs"]


def test_prefetch_quiet_summary(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    p = ok(mp(mpack, "prefetch", "--quiet", "--gateway", g.url, "--cache-dir", tmp_path / "c",
              pack["tree"]))
    assert p.stdout.startswith(pack["tree"] + ": ") and "0 failed" in p.stdout
    assert "already present" in p.stdout and "{" not in p.stdout


def test_prefetch_files_selection(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    cdir = tmp_path / "c"
    _, last = json_lines(ok(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", cdir,
                               pack["manifest"], "config.json", "docs")).stdout)
    assert last["blocks_total"] == 4  # manifest, config.json, docs/README.md, docs/deep/...
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert st["blocks"] == 4
    info = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cdir,
                            pack["manifest"])).stdout)
    pct = {f["path"]: f["cached_percent"] for f in info["files"]}
    assert pct == {"config.json": 100, "docs/README.md": 100, "docs/deep/notes.txt": 100,
                   "model.safetensors": 0, "tokenizer.json": 0}
    # In a directory pack, a subdirectory selects what is under it.
    _, last = json_lines(ok(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir",
                               tmp_path / "c2", pack["tree"], "docs/deep")).stdout)
    assert last["blocks_total"] == 4  # root dir, docs, docs/deep, notes.txt
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir",
                          tmp_path / "c2")).stdout)
    assert st["blocks"] == 4  # nothing outside the selection was fetched ahead
    fails(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", cdir, pack["manifest"],
             "nope.bin"), 1, "mpack prefetch: ", "nope.bin: not in the pack")


def test_prefetch_failures_listed(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    leaves = leaf_cids(MODEL_FILES["model.safetensors"])
    for cid in leaves[3:5]:
        g.ctl(f"/_fixture/remove?cid={cid}", b"")
    p = fails(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", tmp_path / "c",
                 pack["manifest"]), 1, f"mpack prefetch: {leaves[3]}: ",
              f"mpack prefetch: {leaves[4]}: ")
    _, last = json_lines(p.stdout)
    assert last["failed"] == 2 and {e["cid"] for e in last["errors"]} == set(leaves[3:5])
    assert last["blocks_done"] == last["blocks_total"] - 2
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir",
                          tmp_path / "c")).stdout)
    assert st["packs"] == []  # an incomplete pack is not listed
    # An unreachable root: a plain failure.
    fails(mp(mpack, "prefetch", "--offline", "--cache-dir", tmp_path / "c2", pack["manifest"]),
          1, f"mpack prefetch: {pack['manifest']}: not in the cache")


def test_pin_and_unpin(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    cdir = tmp_path / "c"
    _, last = json_lines(ok(mp(mpack, "pin", "--gateway", g.url, "--cache-dir", cdir,
                               pack["manifest"])).stdout)
    assert last["pinned"] and last["failed"] == 0
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert st["pinned_blocks"] == st["blocks"] == last["blocks_total"]
    assert st["pinned_roots"] == [pack["manifest"]]
    gc = json.loads(ok(mp(mpack, "cache", "gc", "--json", "--target", "0", "--cache-dir",
                          cdir)).stdout)
    assert gc["evicted"] == 0 and gc["bytes"] == st["bytes"]
    assert "the rest is pinned" in ok(mp(mpack, "cache", "gc", "--target", "0", "--cache-dir",
                                         cdir)).stdout
    assert ok(mp(mpack, "unpin", "--cache-dir", cdir, pack["manifest"])).stdout == \
        f"unpinned {pack['manifest']}\n"
    gc = json.loads(ok(mp(mpack, "cache", "gc", "--json", "--target", "0", "--cache-dir",
                          cdir)).stdout)
    assert gc["evicted"] == st["blocks"] and gc["bytes"] == 0
    fails(mp(mpack, "unpin", "--cache-dir", cdir, pack["manifest"]), 1, "not pinned")
    # prefetch --pin is the same thing.
    _, last = json_lines(ok(mp(mpack, "prefetch", "--pin", "--gateway", g.url, "--cache-dir",
                               cdir, pack["tree"])).stdout)
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert last["pinned"] and st["pinned_roots"] == [pack["tree"]]
    assert st["pinned_blocks"] == last["blocks_total"]


def read_until(proc, pred, timeout):
    """Read proc.stdout lines until pred(line) is true; returns the lines read."""
    got, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not r:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        got.append(line)
        if pred(line):
            return got
    pytest.fail(f"condition not met within {timeout}s; output: {''.join(got)}")


def test_prefetch_interrupted_then_resumed(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    g.faults({"mode": "slow", "rate": 200000})
    cdir = tmp_path / "c"
    proc = subprocess.Popen([mpack, "prefetch", "-j", "2", "--gateway", g.url, "--cache-dir",
                             str(cdir), pack["manifest"]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        read_until(proc, lambda ln: json.loads(ln).get("blocks_done", 0) >= 6, 60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "interrupted; run it again to continue" in err
    _, first = json_lines(out)
    assert first["interrupted"] and 6 <= first["blocks_done"] < first["blocks_total"]
    total = first["blocks_total"]
    g.faults({"mode": "none"})
    g.ctl("/_fixture/reset", b"")
    p = ok(mp(mpack, "prefetch", "--gateway", g.url, "--cache-dir", cdir, pack["manifest"]))
    _, second = json_lines(p.stdout)
    assert second["blocks_total"] == total and second["blocks_done"] == total
    assert second["present"] >= first["blocks_done"]
    assert second["present"] + second["fetched"] == total and second["fetched"] > 0
    by_mh = g.ctl("/_fixture/stats")["by_mh"]
    assert sum(by_mh.values()) == second["fetched"]  # nothing fetched twice
    ok(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["manifest"]))


def test_progress_json_rate_limited(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    g.faults({"mode": "slow", "rate": 300000})
    t0 = time.monotonic()
    p = ok(mp(mpack, "prefetch", "-j", "2", "--gateway", g.url, "--cache-dir", tmp_path / "c",
              pack["manifest"]))
    took = time.monotonic() - t0
    lines, last = json_lines(p.stdout)
    assert took > 1.5, "the slow fixture should make this take a while"
    assert 2 <= len(lines) <= 2 * took + 2, (len(lines), took)
    done = [ln["done_bytes"] for ln in lines]
    assert done == sorted(done)
    assert any(ln["rate"] > 0 for ln in lines)
    assert last["done_bytes"] == last["total_bytes"] and p.stderr == ""


def test_progress_bar_on_a_terminal(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    g.faults({"mode": "slow", "rate": 300000})
    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen([mpack, "prefetch", "-j", "2", "--gateway", g.url, "--cache-dir",
                             str(tmp_path / "c"), pack["manifest"]], stdout=subprocess.PIPE,
                            stderr=slave, env=clean_env())
    os.close(slave)
    tty = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                tty += chunk
            elif proc.poll() is not None:
                break
            assert time.monotonic() - t0 < 60, "prefetch did not finish"
        out, _ = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - t0
    assert proc.returncode == 0, tty
    text = tty.decode(errors="replace")
    draws = text.count("\r") - 2  # progress_end clears the line with two
    assert draws >= 2 and draws <= 10 * took + 4, (draws, took)
    draws_text = [d for d in text.split("\r") if d.strip()]
    assert all(len(d) < 80 for d in draws_text)  # fits the (default 80 column) terminal
    assert all(d.rstrip().endswith(" blocks") and "ETA" in d and "%" in d for d in draws_text)
    assert "100%" in draws_text[-1] and "#" * 10 in draws_text[-1]
    assert "MiB" in text or "KiB" in text
    summary = out.decode()
    assert summary.startswith(pack["manifest"] + ": ") and "already present" in summary
    assert "{" not in summary  # no JSON lines when a terminal shows the progress


# ---- publish ----

def test_publish_and_fetch_back(mpack, pack, gateways, tmp_path):
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    kubo = gateways()  # empty: it only gets what publish sends
    p = ok(mp(mpack, "publish", "--json", "--pin", "--api", kubo.url, "--cache-dir", cdir,
              pack["manifest"]))
    doc = json.loads(p.stdout)
    assert doc["cid"] == pack["manifest"] and doc["api"] == kubo.url and doc["pinned"]
    assert doc["roots"][0] == pack["manifest"]
    assert set(doc["roots"][1:]) == {f["cid"] for path, f in pack["files"].items()
                                     if path in MODEL_FILES}
    stats = kubo.ctl("/_fixture/stats")
    assert stats["by_path"].get("/api/v0/dag/import") == 1
    # A fresh cache, the fixture as the only gateway: identical bytes, and it verifies.
    fresh = tmp_path / "fresh"
    for rel, data in MODEL_FILES.items():
        got = subprocess.run([mpack, "cat", "--gateway", kubo.url, "--cache-dir", str(fresh),
                              f"{pack['manifest']}/{rel}"], capture_output=True, timeout=60,
                             env=clean_env())
        assert got.returncode == 0 and got.stdout == data, (rel, got.stderr)
    ok(mp(mpack, "verify", "--gateway", kubo.url, "--cache-dir", tmp_path / "fresh2",
          pack["manifest"]))
    # The directory tree, without pinning; text output.
    p = ok(mp(mpack, "publish", "--api", kubo.url, "--cache-dir", cdir, pack["tree"]))
    assert p.stdout.startswith(f"published {pack['tree']} to {kubo.url}: ")
    ok(mp(mpack, "verify", "--gateway", kubo.url, "--cache-dir", tmp_path / "fresh3",
          pack["tree"]))


def test_publish_fetches_missing_blocks_from_sources(mpack, pack, gateways, tmp_path):
    src = gateways(pack["car"])
    kubo = gateways()
    # Empty cache: every block comes from the source gateway on the way to the daemon.
    ok(mp(mpack, "publish", "--api", kubo.url, "--gateway", src.url, "--cache-dir",
          tmp_path / "c", pack["manifest"]))
    ok(mp(mpack, "verify", "--gateway", kubo.url, "--cache-dir", tmp_path / "fresh",
          pack["manifest"]))


def test_publish_missing_block_aborts(mpack, pack, gateways, tmp_path):
    """A block that cannot be had stops the upload (no hang, no partial success)."""
    leaf = leaf_cids(MODEL_FILES["model.safetensors"])[7]
    keep = {cid for cid, _ in car_sections(pack["car"])[1]} - {leaf}
    sub = tmp_path / "sub.car"
    car_subset(pack["car"], sub, keep)
    part = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", part, sub))
    kubo = gateways()
    p = fails(mp(mpack, "publish", "--offline", "--api", kubo.url, "--cache-dir", part,
                 pack["manifest"], timeout=60), 1, f"mpack publish: {pack['manifest']}:",
              leaf, "not in the cache")
    assert p.stdout == ""
    fails(mp(mpack, "publish", "--api", "http://127.0.0.1:9", "--cache-dir", part,
             pack["tree"], timeout=60), 1, "POST http://127.0.0.1:9/api/v0/dag/import")


class FakeKubo:
    """A private HTTP server that reads the (chunked) upload, then answers as told."""

    def __init__(self, status, body):
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                outer.path = self.path
                outer.ctype = self.headers.get("Content-Type", "")
                n = 0
                while True:  # chunked request body
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    n += len(self.rfile.read(size))
                    self.rfile.readline()
                outer.received = n
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        self.received = 0
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def cached(mpack, pack, tmp_path):
    cdir = tmp_path / "cache"
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    return cdir


ANSWERS = [
    (500, '{"Message":"pin: context canceled","Code":0,"Type":"error"}\n',
     "daemon answered HTTP 500: pin: context canceled"),
    (404, "404 page not found\n", "daemon answered HTTP 404: 404 page not found"),
    (200, '{"Root":{"Cid":{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},'
          '"PinErrorMsg":""}}\n', "did not report root"),
    (200, '{"Message":"merkledag: not found","Code":0,"Type":"error"}\n',
     "daemon: merkledag: not found"),
    (200, '{"Root":{"Cid":{"/":"%s"},"PinErrorMsg":"pin: out of disk"}}\n',
     "could not pin"),
    (200, "", "did not report root"),
]


@pytest.mark.parametrize("status,body,fragment", ANSWERS, ids=[a[2] for a in ANSWERS])
def test_publish_daemon_errors(mpack, pack, cached, status, body, fragment):
    k = FakeKubo(status, body.replace("%s", pack["manifest"]))
    try:
        p = fails(mp(mpack, "publish", "--pin", "--api", k.url, "--cache-dir", cached,
                     pack["manifest"], timeout=60), 1, f"mpack publish: {pack['manifest']}: ",
                  fragment)
        assert p.stdout == ""
        assert k.path == "/api/v0/dag/import?pin-roots=true"
        assert k.ctype.startswith("multipart/form-data")
        assert k.received > pack["doc"]["bytes"]
    finally:
        k.close()


def test_publish_fake_daemon_success(mpack, pack, cached):
    k = FakeKubo(200, '{"Root":{"Cid":{"/":"%s"},"PinErrorMsg":""}}\n' % pack["manifest"])
    try:
        p = ok(mp(mpack, "publish", "--api", k.url, "--cache-dir", cached, pack["manifest"]))
        assert "published" in p.stdout and k.path.endswith("pin-roots=false")
    finally:
        k.close()


# ---- an offline mount after import ----

def test_import_then_offline_mount(mpack, mpackfs, pack, tmp_path, short_tmp):
    out = tmp_path / "x.car"
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    ok(mp(mpack, "export", "--offline", "--cache-dir", cdir, pack["manifest"], "-o", out))
    c2 = tmp_path / "c2"
    ok(mp(mpack, "import", "--cache-dir", c2, out))
    mnt = short_tmp / "m"
    mnt.mkdir()
    proc = subprocess.Popen([mpackfs, str(mnt), "-f", "--offline", "--cache-dir", str(c2)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env())
    try:
        end = time.monotonic() + 10
        while not os.path.ismount(mnt):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < end, "mount did not appear"
            time.sleep(0.05)
        assert pack["manifest"] in os.listdir(mnt)
        for rel, data in MODEL_FILES.items():
            assert (mnt / pack["manifest"] / rel).read_bytes() == data, rel
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True, timeout=30)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode()
    assert CHUNK  # the shard spans many blocks (imported with the module's CHUNK size)


def test_pin_larger_than_the_cache(mpack, pack, gateways, tmp_path):
    """Pins are recorded first, so blocks that find no room are reported, not silently lost."""
    g = gateways(pack["car"])
    p = fails(mp(mpack, "pin", "--quiet", "--gateway", g.url, "--cache-dir", tmp_path / "c",
                 "--cache-size", "300K", pack["manifest"]), 1,
              "warning: the pack", "is larger than the cache limit",
              "fetched, but the cache did not keep it")
    assert ", pinned" in p.stdout
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-size", "300K",
                          "--cache-dir", tmp_path / "c")).stdout)
    assert st["bytes"] <= 300 << 10 and st["pinned_blocks"] == st["blocks"] > 0
