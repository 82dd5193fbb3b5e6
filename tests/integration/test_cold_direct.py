"""cold_direct: an open of a file whose first block is not cached is answered FOPEN_DIRECT_IO,
so a cold read's bytes go from mpackfs's reply into the reader's buffer and fill no page-cache
pages of the mount's file. A shared mmap of such an open still works (the kernel agreed to
FUSE_DIRECT_IO_ALLOW_MMAP at INIT), and once the blocks are cached, opens are cached ones.

Residency of the mount's file is read with util-linux fincore, through an open made after
the blocks are cached (a cached open: its mmap does not drop the inode's pages)."""
import hashlib
import mmap
import os
import random
import time

import pytest

from mountlib import gateways, mounts, pack, resident  # noqa: F401

MiB = 1 << 20
FILE_MIB = 24


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    base = tmp_path_factory.mktemp("cd")
    src = base / "cdmodel"
    src.mkdir()
    (src / "weights.bin").write_bytes(random.Random(5).randbytes(FILE_MIB * MiB))
    res = pack(src, base / "out", "--chunk-size", str(MiB))
    res["sha256"] = hashlib.sha256((src / "weights.bin").read_bytes()).hexdigest()
    return res


@pytest.fixture
def cache(disk_dir):
    return os.path.join(disk_dir, "cache")


def sha_read(path, bs=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(bs):
            h.update(chunk)
    return h.hexdigest()


def settled(m, timeout=10.0):
    """Wait until every fetched block has been put in the cache (a reader gets a block
    before its put)."""
    end = time.time() + timeout
    while time.time() < end:
        st = m.stats()
        if st["store"]["in_flight"] == 0 and st["cache"]["puts"] >= st["store"]["fetched"]:
            return
        time.sleep(0.05)
    raise AssertionError("puts did not land: %s" % st)


def cold_mount(model, cache, mounts, gateways, *opts):
    g = gateways(model["car"])
    extra = []
    for o in ("passthrough=false",) + opts:  # no copies: residency is the FUSE file's own
        extra += ["-o", o]
    m = mounts(["--gateway", g.url, "--cache-dir", cache] + extra)
    return m, m.path(model["manifest_cid"], "weights.bin")


@pytest.mark.parametrize("on", [True, False])
def test_cold_read_fills_no_page_cache(model, cache, mounts, gateways, on):
    m, path = cold_mount(model, cache, mounts, gateways,
                         *([] if on else ["cold_direct=false"]))
    assert m.stats()["cold_direct"]["active"] is on
    assert sha_read(path) == model["sha256"]
    st = m.stats()
    assert st["store"]["fetched"] >= FILE_MIB, st["store"]
    assert st["cold_direct"]["opens"] == (1 if on else 0), st["cold_direct"]
    settled(m)  # every block is cached now: fincore's open is a cached one
    res = resident(path)
    if on:
        assert res <= 1 * MiB, res
    else:
        assert res >= FILE_MIB * MiB // 2, res
    assert sha_read(path) == model["sha256"]  # warm, from the cache
    st = m.stats()
    assert st["cold_direct"]["opens"] == (1 if on else 0), st["cold_direct"]
    assert st["store"]["fetched"] >= FILE_MIB and st["store"]["fetched"] <= FILE_MIB + 2, st
    assert m.unmount() == 0


def test_cold_direct_open_can_be_mapped_shared(model, cache, mounts, gateways):
    """llama.cpp and safetensors map the file MAP_SHARED; FOPEN_DIRECT_IO alone would make
    that mmap fail with ENODEV."""
    m, path = cold_mount(model, cache, mounts, gateways)
    with open(path, "rb") as fh:
        with mmap.mmap(fh.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
            assert hashlib.sha256(mm).hexdigest() == model["sha256"]
        fh.seek(7 * MiB + 3)  # a read(2) on the same direct open
        chunk = fh.read(100)
    with open(path, "rb") as fh:
        fh.seek(7 * MiB + 3)
        assert fh.read(100) == chunk
    assert m.stats()["cold_direct"]["opens"] == 1
    assert m.unmount() == 0


def test_partly_read_file_is_still_opened_direct(model, cache, mounts, gateways):
    """Only the first block decides: a file whose head is uncached opens direct; a reader
    that read its head left it cached, and the next open is a cached one."""
    m, path = cold_mount(model, cache, mounts, gateways)
    with open(path, "rb") as fh:
        fh.seek(10 * MiB)
        assert len(fh.read(MiB)) == MiB
    settled(m)
    with open(path, "rb") as fh:
        assert len(fh.read(MiB)) == MiB
    assert m.stats()["cold_direct"]["opens"] == 2
    settled(m)
    assert sha_read(path) == model["sha256"]
    assert m.stats()["cold_direct"]["opens"] == 2
    assert m.unmount() == 0
