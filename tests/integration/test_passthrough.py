"""FUSE passthrough: once every block of a file is cached and the mount has been idle,
mpackfs writes a verified copy of the file under <cache>/copies/<file CID>, and later opens
are answered with FOPEN_PASSTHROUGH so the kernel reads and maps the copy itself.

The store's counters show whether a read reached mpackfs; the copy's bytes are checked
against the packed file. The cache lives under /var/tmp (ext4): a backing file must not sit
on a stacked filesystem."""
import hashlib
import json
import mmap
import os
import random
import time

import pytest

from mountlib import gateways, manifest_entries, mounts, pack, run, binary  # noqa: F401

MiB = 1 << 20
FILE_MIB = 24


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    base = tmp_path_factory.mktemp("pt")
    src = base / "ptmodel"
    src.mkdir()
    rnd = random.Random(11)
    (src / "weights.bin").write_bytes(rnd.randbytes(FILE_MIB * MiB))
    (src / "small.txt").write_bytes(b"tokenizer\n" * 10)
    res = pack(src, base / "out", "--chunk-size", str(MiB))
    res["sha256"] = hashlib.sha256((src / "weights.bin").read_bytes()).hexdigest()
    files = dict(manifest_entries(res["manifest_bytes"]))
    res["file_cid"] = files["weights.bin"]["cid"]
    return res


@pytest.fixture
def cache(disk_dir):
    return os.path.join(disk_dir, "cache")


def imported(model, cache):
    run([binary("mpack"), "import", model["car"], "--cache-dir", cache])
    return cache


def sha_read(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def sha_mmap(path):
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as mm:
        return hashlib.sha256(mm).hexdigest()


def wait_copies(m, n, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        pt = m.stats()["passthrough"]
        if pt["copies_made"] >= n:
            return pt
        time.sleep(0.2)
    raise AssertionError("no copy after %.0f s: %s\n%s" % (timeout, pt, m.log()))


def test_fully_cached_file_is_served_from_its_verified_copy(model, cache, mounts):
    m = mounts(["--offline", "--cache-dir", imported(model, cache)])
    path = m.path(model["manifest_cid"], "weights.bin")
    assert m.stats()["passthrough"]["active"] is True
    assert sha_read(path) == model["sha256"]  # through the blocks; queues the copy
    pt = wait_copies(m, 1)
    copy = os.path.join(cache, "copies", model["file_cid"])
    assert sha_read(copy) == model["sha256"]
    assert pt["copy_bytes"] == FILE_MIB * MiB and pt["opens"] == 0, pt
    gets = m.stats()["store"]["gets"]
    assert sha_read(path) == model["sha256"]
    assert sha_mmap(path) == model["sha256"]
    st = m.stats()
    assert st["passthrough"]["opens"] == 2, st["passthrough"]
    assert st["store"]["gets"] == gets, "a passthrough read reached mpackfs"
    # the small file has no copy; it is still read through mpackfs
    assert open(m.path(model["manifest_cid"], "small.txt"), "rb").read() == b"tokenizer\n" * 10
    assert m.unmount() == 0
    # a new mount uses the copy at once
    m = mounts(["--offline", "--cache-dir", cache])
    assert sha_read(m.path(model["manifest_cid"], "weights.bin")) == model["sha256"]
    assert m.stats()["passthrough"]["opens"] == 1
    assert m.unmount() == 0


def test_passthrough_false_makes_no_copy(model, cache, mounts):
    m = mounts(["--offline", "--cache-dir", imported(model, cache), "-o", "passthrough=false"])
    path = m.path(model["manifest_cid"], "weights.bin")
    assert sha_read(path) == model["sha256"]
    time.sleep(2.5)  # past the 1 s of idleness a copy waits for
    assert sha_read(path) == model["sha256"]
    pt = m.stats()["passthrough"]
    assert pt == {"active": False, "opens": 0, "copies_made": 0, "copy_bytes": 0}, pt
    assert not os.path.exists(os.path.join(cache, "copies"))
    assert m.unmount() == 0


def test_open_through_mpackfs_keeps_new_opens_there(model, cache, mounts):
    """The kernel refuses (EIO) a passthrough open of an inode open the other way, and the
    reverse: while any open reads through mpackfs, new ones must too."""
    m = mounts(["--offline", "--cache-dir", imported(model, cache)])
    path = m.path(model["manifest_cid"], "weights.bin")
    fd1 = os.open(path, os.O_RDONLY)
    try:
        assert hashlib.sha256(os.pread(fd1, FILE_MIB * MiB, 0)).hexdigest() == model["sha256"]
        wait_copies(m, 1)  # made while fd1 is still open
        assert sha_read(path) == model["sha256"]  # not EIO
        assert m.stats()["passthrough"]["opens"] == 0
    finally:
        os.close(fd1)
    time.sleep(0.3)  # the kernel's RELEASE of fd1 is asynchronous
    fd3 = os.open(path, os.O_RDONLY)
    try:
        assert m.stats()["passthrough"]["opens"] == 1
        assert sha_read(path) == model["sha256"]  # a second passthrough open
        assert m.stats()["passthrough"]["opens"] == 2
        assert os.pread(fd3, 16, 5 * MiB) == open(path, "rb").read()[5 * MiB:5 * MiB + 16]
    finally:
        os.close(fd3)
    assert m.unmount() == 0


def test_copy_of_wrong_size_is_removed_and_blocks_serve(model, cache, mounts):
    m = mounts(["--offline", "--cache-dir", imported(model, cache)])
    path = m.path(model["manifest_cid"], "weights.bin")
    assert sha_read(path) == model["sha256"]
    wait_copies(m, 1)
    assert m.unmount() == 0
    copy = os.path.join(cache, "copies", model["file_cid"])
    os.truncate(copy, 5 * MiB)
    m = mounts(["--offline", "--cache-dir", cache, "-o", "log_level=info"])
    path = m.path(model["manifest_cid"], "weights.bin")
    assert sha_read(path) == model["sha256"]
    st = m.stats()
    assert st["passthrough"]["opens"] == 0 and st["store"]["gets"] >= FILE_MIB, st
    assert "is not a %d-byte file: removed" % (FILE_MIB * MiB) in m.log()
    wait_copies(m, 1)  # and made again
    assert os.path.getsize(copy) == FILE_MIB * MiB
    assert m.unmount() == 0


def test_partly_cached_file_gets_no_copy(model, cache, mounts, gateways):
    g = gateways(model["car"])
    m = mounts(["--gateway", g.url, "--cache-dir", cache, "-o", "read_ahead_kb=128"])
    path = m.path(model["manifest_cid"], "weights.bin")
    with open(path, "rb") as fh:
        assert len(fh.read(2 * MiB)) == 2 * MiB
    time.sleep(3)
    pt = m.stats()["passthrough"]
    assert pt["copies_made"] == 0 and pt["copy_bytes"] == 0, pt
    copies = os.path.join(cache, "copies")
    assert not os.path.exists(copies) or os.listdir(copies) == []
    assert m.unmount() == 0


def test_cache_clear_removes_the_copies(model, cache, mounts):
    m = mounts(["--offline", "--cache-dir", imported(model, cache)])
    assert sha_read(m.path(model["manifest_cid"], "weights.bin")) == model["sha256"]
    wait_copies(m, 1)
    assert m.unmount() == 0
    st = json.loads(run([binary("mpack"), "cache", "stats", "--json", "--cache-dir", cache]).stdout)
    assert st["copy_bytes"] == FILE_MIB * MiB, st
    run([binary("mpack"), "cache", "clear", "--yes", "--cache-dir", cache])
    assert os.listdir(os.path.join(cache, "copies")) == []
    st = json.loads(run([binary("mpack"), "cache", "stats", "--json", "--cache-dir", cache]).stdout)
    assert st["copy_bytes"] == 0 and st["blocks"] == 0, st
