"""The block store end to end through `mpack cat`, over loopback only: the fault-injecting
fixture (tests/fixture/gateway.py) as trustless gateway and as Kubo RPC API, and real nginx
(tests/fixture/nginx.py) serving a block directory. Failover order, lying sources (bytes never
returned or cached), stalls and deadlines, dead sources, 429 cool-down, offline reads from the
cache, two processes sharing one cache, parallel transfers. Every command names its sources
explicitly (or --offline): nothing here touches the internet."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO, "tests", "fixture")
sys.path.insert(0, FIXTURE)
import gateway as gwmod  # noqa: E402  (CAR parsing and CID text helpers)
import nginx as nginxmod  # noqa: E402
from mountlib import gateways  # noqa: E402,F401  (the shared fixture gateway)

CHUNK = 65536


def content(size, seed):
    out = bytearray()
    block = hashlib.sha256(b"store %d" % seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def sha(b):
    return hashlib.sha256(b).hexdigest()


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("MPACKFS_")}


def cat(mpack, *args, timeout=60):
    return subprocess.run([mpack, "cat", *map(str, args)], capture_output=True,
                          timeout=timeout, env=clean_env())


def dead_url():
    """A loopback port nobody listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"




@pytest.fixture(scope="module")
def pack(mpack, tmp_path_factory):
    d = tmp_path_factory.mktemp("storepack")
    model = d / "model"
    model.mkdir()
    files = {"model.safetensors": content(16 * CHUNK + 1234, 1),
             "extra.bin": content(3 * CHUNK, 2), "config.json": b'{"x": 2}\n'}
    for name, data in files.items():
        (model / name).write_bytes(data)
    car = d / "model.car"
    p = subprocess.run([mpack, "pack", str(model), "--car", str(car), "--json", "--chunk-size",
                        str(CHUNK), "--out", str(d / "MODEL_PACK.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    _, blocks = gwmod.car_parse(car.read_bytes())
    leaves = {f["path"]: f["cid"] for f in doc["files"]}
    return {"car": car, "m": doc["manifest_cid"], "files": files, "blocks": blocks,
            "cids": leaves, "dir": d}


def path_of(pack, name):
    return f"{pack['m']}/{name}"


def test_gateway_and_api_sources(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    p = cat(mpack, "--gateway", g.url, "--no-cache", path_of(pack, "model.safetensors"))
    assert p.returncode == 0 and p.stdout == pack["files"]["model.safetensors"], p.stderr
    st = g.stats()
    assert any(k.startswith("/ipfs/") for k in st["by_path"]), st["by_path"]
    p = cat(mpack, "--api", g.url, "--cache-dir", tmp_path / "c", path_of(pack, "extra.bin"))
    assert p.returncode == 0 and p.stdout == pack["files"]["extra.bin"], p.stderr
    assert g.stats()["by_path"].get("/api/v0/block/get", 0) > 0


def test_failover_order(mpack, pack, gateways, tmp_path):
    """A dead source, then one that has nothing (404), then the one with the blocks."""
    empty = gateways()
    full = gateways(pack["car"])
    p = cat(mpack, "--gateway", dead_url(), "--gateway", empty.url, "--gateway", full.url,
            "--no-cache", path_of(pack, "extra.bin"))
    assert p.returncode == 0 and p.stdout == pack["files"]["extra.bin"], p.stderr
    assert empty.stats()["requests"] > 0, "the second source was asked first"
    assert full.stats()["requests"] > 0
    # the API is asked before the gateways, even when named after them
    api = gateways(pack["car"])
    p = cat(mpack, "--gateway", full.url, "--api", api.url, "--no-cache",
            path_of(pack, "config.json"))
    assert p.returncode == 0 and p.stdout == b'{"x": 2}\n', p.stderr
    assert api.stats()["requests"] >= 2


@pytest.mark.parametrize("mode", ["corrupt", "wrong_block", "truncate"])
def test_lying_source_then_honest(mpack, pack, gateways, tmp_path, mode):
    liar = gateways(pack["car"], fault={"mode": mode})
    honest = gateways(pack["car"])
    cache = tmp_path / "cache"
    name = "model.safetensors"
    p = cat(mpack, "--gateway", liar.url, "--gateway", honest.url, "--cache-dir", cache,
            path_of(pack, name))
    assert p.returncode == 0, p.stderr
    assert sha(p.stdout) == sha(pack["files"][name])
    assert liar.stats()["faults_applied"] > 0
    liar.stop()
    honest.stop()
    # the cache holds only good blocks: an offline read gives the same bytes
    p = cat(mpack, "--offline", "--cache-dir", cache, path_of(pack, name))
    assert p.returncode == 0 and sha(p.stdout) == sha(pack["files"][name]), p.stderr


def test_only_liar_never_returns_bad_bytes(mpack, pack, gateways, tmp_path):
    """One leaf in the middle is corrupted by the only source: cat fails, has written only an
    exact prefix ending before that leaf, and the bad leaf is not in the cache afterwards."""
    data = pack["files"]["model.safetensors"]
    leaf = gwmod.cid_text(gwmod.raw_cid(data[6 * CHUNK:7 * CHUNK]))
    g = gateways(pack["car"], fault={"mode": "corrupt", "cids": [leaf]})
    cache = tmp_path / "cache"
    p = cat(mpack, "--gateway", g.url, "--cache-dir", cache, path_of(pack, "model.safetensors"))
    assert p.returncode == 1, p.stderr
    assert b"mpack cat: " in p.stderr and leaf.encode() in p.stderr, p.stderr
    assert len(p.stdout) <= 6 * CHUNK and p.stdout == data[:len(p.stdout)]
    g.stop()
    p = cat(mpack, "--offline", "--cache-dir", cache, leaf)
    assert p.returncode == 1 and b"offline" in p.stderr, "a lie was cached"
    p = cat(mpack, "--offline", "--cache-dir", cache, "--car", pack["car"],
            path_of(pack, "model.safetensors"))
    assert p.returncode == 0 and p.stdout == data


def test_stall_gives_up_by_the_deadline(mpack, pack, gateways):
    g = gateways(pack["car"], fault={"mode": "stall", "stall_s": 20})
    t0 = time.monotonic()
    p = cat(mpack, "--gateway", g.url, "--no-cache", "--timeout", "2",
            path_of(pack, "config.json"))
    elapsed = time.monotonic() - t0
    assert p.returncode == 1, p.stderr
    assert elapsed < 2 + 1 + 0.5, f"took {elapsed:.1f} s"
    assert b"mpack cat: " in p.stderr and p.stdout == b""


def test_all_sources_fail(mpack, pack, gateways):
    d1, d2 = dead_url(), dead_url()
    p = cat(mpack, "--gateway", d1, "--gateway", d2, "--no-cache", "--timeout", "10",
            pack["m"])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert d1[7:] in err and d2[7:] in err, err
    e1, e2 = gateways(), gateways()
    p = cat(mpack, "--gateway", e1.url, "--api", e2.url, "--no-cache", pack["m"])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert e1.url[7:] in err and "api: " in err and "not found" in err, err


def test_429_cools_a_source_down(mpack, pack, gateways):
    busy = gateways(pack["car"], fault={"mode": "429", "retry_after": 30})
    ok = gateways(pack["car"])
    p = cat(mpack, "--gateway", busy.url, "--gateway", ok.url, "--no-cache",
            path_of(pack, "model.safetensors"))
    assert p.returncode == 0 and p.stdout == pack["files"]["model.safetensors"], p.stderr
    asked = busy.stats()["requests"]
    served = ok.stats()["requests"]
    assert asked <= 3 and served >= 17, (asked, served)


def test_offline_after_full_read(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"])
    cache = tmp_path / "cache"
    for name in pack["files"]:
        p = cat(mpack, "--gateway", g.url, "--cache-dir", cache, path_of(pack, name))
        assert p.returncode == 0 and p.stdout == pack["files"][name], p.stderr
    g.stop()
    for name, data in pack["files"].items():
        p = cat(mpack, "--offline", "--cache-dir", cache, path_of(pack, name))
        assert p.returncode == 0 and sha(p.stdout) == sha(data), p.stderr
        # a dead source is never needed when the cache has everything
        p = cat(mpack, "--gateway", dead_url(), "--cache-dir", cache, path_of(pack, name))
        assert p.returncode == 0 and sha(p.stdout) == sha(data), p.stderr
    env = dict(clean_env(), MPACKFS_OFFLINE="1", MPACKFS_CACHE_DIR=str(cache))
    p = subprocess.run([mpack, "cat", path_of(pack, "extra.bin")], capture_output=True,
                       env=env, timeout=60)
    assert p.returncode == 0 and p.stdout == pack["files"]["extra.bin"], p.stderr


def test_two_processes_share_the_cache(mpack, pack, gateways, tmp_path):
    g = gateways(pack["car"], fault={"mode": "slow", "rate": 400_000})
    cache = tmp_path / "cache"
    args = [mpack, "cat", "--gateway", g.url, "--cache-dir", str(cache)]
    big = subprocess.Popen(args + [path_of(pack, "model.safetensors")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env())
    time.sleep(0.3)
    assert big.poll() is None, "the first cat finished too early to overlap"
    small = cat(mpack, "--gateway", g.url, "--cache-dir", cache, path_of(pack, "extra.bin"))
    same = cat(mpack, "--gateway", g.url, "--cache-dir", cache,
               path_of(pack, "model.safetensors"))
    out, err = big.communicate(timeout=60)
    assert big.returncode == 0 and out == pack["files"]["model.safetensors"], err
    assert small.returncode == 0 and small.stdout == pack["files"]["extra.bin"], small.stderr
    assert same.returncode == 0 and same.stdout == out, same.stderr
    g.stop()
    p = cat(mpack, "--offline", "--cache-dir", cache, path_of(pack, "model.safetensors"))
    assert p.returncode == 0 and p.stdout == out


def test_cold_cat_transfers_in_parallel(mpack, pack, gateways):
    """17 leaves of 64 KiB at ~320 KB/s each: one at a time takes over 3 s."""
    g = gateways(pack["car"], fault={"mode": "slow", "rate": 320_000})
    t0 = time.monotonic()
    p = cat(mpack, "--gateway", g.url, "--no-cache", path_of(pack, "model.safetensors"))
    elapsed = time.monotonic() - t0
    assert p.returncode == 0 and p.stdout == pack["files"]["model.safetensors"], p.stderr
    assert elapsed < 2.0, f"cold cat took {elapsed:.2f} s: leaves were not prefetched"


def test_nginx_block_directory(mpack, pack, gateways, tmp_path):
    blocks = tmp_path / "blocks"
    blocks.mkdir()
    for cid, data in pack["blocks"]:
        (blocks / gwmod.cid_text(cid)).write_bytes(data)
    data = pack["files"]["model.safetensors"]
    missing = gwmod.cid_text(gwmod.raw_cid(data[3 * CHUNK:4 * CHUNK]))
    (blocks / missing).unlink()
    backup = gateways(pack["car"])
    proc, port = nginxmod.start(str(blocks))
    try:
        url = f"http://127.0.0.1:{port}"
        p = cat(mpack, "--gateway", url, "--no-cache", path_of(pack, "extra.bin"))
        assert p.returncode == 0 and p.stdout == pack["files"]["extra.bin"], p.stderr
        p = cat(mpack, "--gateway", url, "--gateway", backup.url, "--no-cache",
                path_of(pack, "model.safetensors"))
        assert p.returncode == 0 and p.stdout == data, p.stderr
        by_mh = backup.stats()["by_mh"]
        assert list(by_mh.values()) == [1], f"the backup served more than the missing block: " \
                                            f"{by_mh}"
        p = cat(mpack, "--gateway", url, "--no-cache", path_of(pack, "model.safetensors"))
        assert p.returncode == 1 and missing.encode() in p.stderr, p.stderr
        assert p.stdout == data[:len(p.stdout)] and len(p.stdout) <= 3 * CHUNK
    finally:
        nginxmod.stop(proc)
