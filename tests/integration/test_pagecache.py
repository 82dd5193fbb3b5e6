"""The cache keeps one copy of a pack in memory, not two: blocks written into the cache are
written back and dropped from the page cache 64 MiB of puts later, and a sequential reader
through the mount drops data.mdb's pages of each block it has consumed (its bytes now live
in the FUSE file's pages), while a random reader keeps them.

Residency is read with util-linux fincore. The cache lives under /var/tmp: page-cache advice
is a no-op on tmpfs, which /tmp may be."""
import hashlib
import os
import random
import subprocess
import tempfile
import time

import pytest

from mountlib import mounts, pack, resident, run, binary  # noqa: F401

MiB = 1 << 20
FILE_MIB = 96


@pytest.fixture(scope="module")
def big_pack(tmp_path_factory):
    base = tmp_path_factory.mktemp("pagecache")
    src = base / "bigmodel"
    src.mkdir()
    rnd = random.Random(7)
    with open(src / "weights.bin", "wb") as fh:
        for _ in range(FILE_MIB):
            fh.write(rnd.randbytes(MiB))
    res = pack(src, base / "out", "--chunk-size", str(MiB))
    res["sha256"] = hashlib.sha256((src / "weights.bin").read_bytes()).hexdigest()
    return res


def evict(path):
    """Drop the (clean) pages of one file, as drop_caches would."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def imported_cache(big_pack, disk_dir):
    cache = os.path.join(disk_dir, "cache")
    run([binary("mpack"), "import", big_pack["car"], "--cache-dir", cache])
    return cache, os.path.join(cache, "data.mdb")


def test_puts_do_not_keep_a_second_copy(big_pack, disk_dir):
    _, data = imported_cache(big_pack, disk_dir)
    size = os.path.getsize(data)
    assert size > FILE_MIB * MiB
    # 64 MiB of puts stay until their write-back is waited for; the rest is dropped.
    assert resident(data) <= 72 * MiB, (resident(data), size)


def read_file(path, offsets):
    h = {}
    with open(path, "rb", buffering=0) as fh:
        for off in offsets:
            fh.seek(off)
            h[off] = fh.read(MiB)
    return b"".join(h[o] for o in sorted(h))


@pytest.mark.parametrize("order,direct", [("sequential", True), ("random", True),
                                           ("sequential", False)])
def test_sequential_reader_reads_cached_blocks_direct(big_pack, disk_dir, mounts, order, direct):
    """A sequential reader's cached blocks not in memory are read with O_DIRECT: the bytes
    come right, data.mdb's pages stay out of the page cache (the mount's page cache holds the
    file once), and stats count the bytes. A random reader's go through the map (its
    read-around serves the small requests that follow), as do all with direct_reads=false."""
    cache, data = imported_cache(big_pack, disk_dir)
    evict(data)
    before = resident(data)
    assert before < 8 * MiB, before
    m = mounts(["--offline", "--cache-dir", cache] + ([] if direct else ["-o", "direct_reads=false"]))
    path = m.path(big_pack["manifest_cid"], "weights.bin")
    offsets = [i * MiB for i in range(FILE_MIB)]
    if order == "random":
        random.Random(3).shuffle(offsets)
    assert hashlib.sha256(read_file(path, offsets)).hexdigest() == big_pack["sha256"]
    st = m.stats()["store"]
    assert st["fetched"] == 0 and st["cache_hits"] >= FILE_MIB, st
    if order == "sequential" and direct:
        # not the first requests, before the stream looks sequential, nor the blocks
        # their read-around brought into memory
        assert st["direct_bytes"] >= FILE_MIB * MiB * 2 // 3, st
        # B-tree pages, the first blocks' read-around and the touch commits
        assert resident(data) - before <= 12 * MiB, resident(data)
    elif direct:  # a chance run of adjacent offsets looks sequential for a while
        assert st["direct_bytes"] <= 8 * MiB, st
    else:
        assert st["direct_bytes"] == 0, st
    assert m.unmount() == 0


def test_header_read_does_not_queue_a_long_prefetch(big_pack, disk_dir, mounts):
    """llama.cpp reads a GGUF's first 4 MiB, then its tail. The prefetch the head read starts
    must stay short: each cached block it advises is a disk read queued ahead of the tail
    read. A window that doubled on every request advised ~70 of the 96 MiB here."""
    cache, data = imported_cache(big_pack, disk_dir)
    evict(data)
    assert resident(data) < 8 * MiB
    m = mounts(["--offline", "--cache-dir", cache])
    path = m.path(big_pack["manifest_cid"], "weights.bin")
    fd = os.open(path, os.O_RDONLY)
    try:
        head = os.pread(fd, 4 * MiB, 0)
        time.sleep(1.0)  # let advised reads land
        after = resident(data)
        tail = os.pread(fd, 8192, FILE_MIB * MiB - 8192)
    finally:
        os.close(fd)
    assert len(head) == 4 * MiB and len(tail) == 8192
    # head and its kernel readahead (<= 8 MiB), a window of at most twice that, the
    # device's read-around at the window's edge, and the pages of the maintenance thread's
    # touch commit
    assert after <= 41 * MiB, after
    assert m.unmount() == 0


def mount_dev(path):
    """maj:min of the mount at path, from /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == os.path.realpath(path):
                return parts[2]
    raise AssertionError(f"{path} is not a mount")


def test_read_ahead_kb_lands_on_the_mount_after_later_mounts(big_pack, disk_dir, mounts):
    """The mount's read_ahead_kb is raised on the first open, by finding the mount in
    mountinfo. A mount made after it (here a tmpfs) comes later in mountinfo and must not
    get picked instead."""
    cache, _ = imported_cache(big_pack, disk_dir)
    m = mounts(["--offline", "--cache-dir", cache, "--read-ahead-kb", "3072"])
    later = tempfile.mkdtemp(prefix="mpkfs-later.", dir="/tmp")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", later], check=True)
    try:
        with open(m.path(big_pack["manifest_cid"], "weights.bin"), "rb") as fh:
            assert len(fh.read(4096)) == 4096
        with open(f"/sys/class/bdi/{mount_dev(m.mp)}/read_ahead_kb") as f:
            assert int(f.read()) == 3072
    finally:
        subprocess.run(["umount", later], check=True)
        os.rmdir(later)
    assert m.unmount() == 0
