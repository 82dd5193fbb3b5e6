"""End-to-end tests of the mpackfs mount as users and containers see it: listings, modes,
inodes, contents, checksums, xattrs, the UnixFS directory view, mmap, bad names, the control
files, read-only-ness, bind mounts into a slave namespace with and without allow_other,
corrupting and dead sources, offline remounts and SIGTERM."""
import base64
import errno
import hashlib
import json
import os
import signal
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from mountlib import (blocks_for, car_blocks, closed_port, gateways, manifest_entries,  # noqa
                      mounts, pack, run, binary, tree_files)
import gen_safetensors

CHUNK = 262144


def pattern(n, seed):
    out, x = bytearray(), seed * 2654435761 + 1
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def raw_cid(data):
    """CIDv1 raw sha2-256 of data, base32 ("bafkrei...")."""
    b = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(b).decode().lower().rstrip("=")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A sharded safetensors model with a tokenizer, nested dirs and an empty file, packed
    with 256 KiB chunks (multi-leaf files). SHA256SUMS is added to src by mpack pack."""
    base = tmp_path_factory.mktemp("mnt")
    src = base / "tmodel"
    gen_safetensors.write_model(src, shards=3)
    (src / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}\n')
    (src / "README.md").write_text("# tiny model\nfor mpackfs tests\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "sub" / "notes.txt").write_text("nested notes\n")
    (src / "sub" / "deeper" / "data.bin").write_bytes(pattern(3 * CHUNK + 12345, 5))
    res = pack(src, base / "out", "--chunk-size", str(CHUNK))
    res["src"] = src
    res["files"] = tree_files(src)  # includes SHA256SUMS
    res["entries"] = dict(manifest_entries(res["manifest_bytes"]))
    return res


def car_args(model, cache):
    return ["--offline", "--car", model["car"], "--cache-dir", cache]


def expected_pack_tree(model):
    """Relative path → bytes the manifest view must show."""
    out = {p: model["files"][p] for p in model["entries"]}
    out["MODEL_PACK.json"] = model["manifest_bytes"]
    return out


def dirs_of(paths):
    out = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def walk(root):
    """Relative path → os.lstat of everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = os.lstat(p)
    return out


def parse_ls_lR(text, root):
    """`ls -lRn --time-style=+%s` output → relative path → (mode string, uid, gid, size)."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.endswith(":") and line.startswith(root):
            cur = os.path.relpath(line[:-1], root)
            continue
        m = re.match(r"^([-dlrwxs]{10})\S*\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+(.+)$", line)
        if m and cur is not None:
            rel = m.group(5) if cur == "." else f"{cur}/{m.group(5)}"
            out[rel] = (m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return out


def check_tree(root, want):
    """Every file of want (path → bytes) and its dirs are under root with the right metadata,
    and nothing else is."""
    st = walk(root)
    assert set(st) == set(want) | dirs_of(want), \
        f"tree differs: extra {set(st) - set(want) - dirs_of(want)}, " \
        f"missing {(set(want) | dirs_of(want)) - set(st)}"
    uid, gid = os.getuid(), os.getgid()
    for rel, s in st.items():
        assert (s.st_uid, s.st_gid) == (uid, gid), f"{rel}: owner {s.st_uid}:{s.st_gid}"
        if rel in want:
            assert oct(s.st_mode) == oct(0o100444), f"{rel}: mode {oct(s.st_mode)}"
            assert s.st_size == len(want[rel]), f"{rel}: size {s.st_size} != {len(want[rel])}"
            assert s.st_blocks == blocks_for(s.st_size), \
                f"{rel}: st_blocks {s.st_blocks} != ceil({s.st_size}/512)"
            assert s.st_nlink == 1, f"{rel}: nlink {s.st_nlink}"
        else:
            assert oct(s.st_mode) == oct(0o040555), f"{rel}/: mode {oct(s.st_mode)}"
    ls = run(["ls", "-lRn", "--time-style=+%s", root]).stdout
    rows = parse_ls_lR(ls, root)
    assert set(rows) == set(st), f"ls -lR shows {sorted(rows)}, os.walk {sorted(st)}"
    for rel, (mode, u, g, size) in rows.items():
        if rel in want:
            assert (mode, size) == ("-r--r--r--", len(want[rel])), f"ls -lR {rel}: {mode} {size}"
        else:
            assert mode == "dr-xr-xr-x", f"ls -lR {rel}/: {mode}"
        assert (u, g) == (uid, gid), f"ls -lR {rel}: owner {u}:{g}"


def check_contents(root, want, orig_root=None):
    for rel, data in want.items():
        p = os.path.join(root, rel)
        got = subprocess.run(["cat", p], capture_output=True, timeout=60).stdout
        assert got == data, f"cat {rel}: {len(got)} bytes differ from the original"
        if orig_root is not None and os.path.exists(os.path.join(orig_root, rel)):
            c = subprocess.run(["cmp", os.path.join(orig_root, rel), p], capture_output=True,
                               text=True)
            assert c.returncode == 0, f"cmp {rel}: {c.stdout}{c.stderr}"


def getfattr(path):
    p = run(["getfattr", "-d", "-m", "user.mpack", "--absolute-names", path])
    return dict(re.findall(r'^(user\.mpack\.\w+)="(.*)"$', p.stdout, re.M))


def sha256sum_check(pack_dir, model, tmp_path):
    lines = [f"{e['sha256'].split(':', 1)[1]}  {name}\n" for name, e in model["entries"].items()]
    chk = tmp_path / "manifest.sha256"
    chk.write_text("".join(lines))
    p = subprocess.run(["sha256sum", "-c", str(chk)], cwd=pack_dir, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, f"sha256sum -c failed:\n{p.stdout}{p.stderr}"
    assert p.stdout.count(": OK\n") == len(lines), p.stdout


# ---- 3. what users see ----

def test_listing_modes_sizes_and_blocks(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    check_tree(m.path(model["manifest_cid"]), expected_pack_tree(model))
    assert m.unmount() == 0


def test_inodes_stable_across_lookups_and_remount(model, mounts, tmp_path):
    cache = tmp_path / "cache"
    m = mounts(car_args(model, cache))
    root = m.path(model["manifest_cid"])
    names = sorted(expected_pack_tree(model)) + sorted(dirs_of(model["entries"])) + ["."]
    first = {n: os.stat(os.path.join(root, n)).st_ino for n in names}
    again = {n: os.stat(os.path.join(root, n)).st_ino for n in names}
    assert first == again, "inode numbers changed between two lookups"
    assert len(set(first.values())) == len(first), f"inode numbers collide: {first}"
    assert m.unmount() == 0
    m2 = mounts(car_args(model, cache), mountpoint=m.mp)
    after = {n: os.stat(os.path.join(m2.path(model["manifest_cid"]), n)).st_ino for n in names}
    assert first == after, "inode numbers changed across a remount"
    assert m2.unmount() == 0


def test_contents_checksums_xattrs_through_gateway(model, mounts, gateways, tmp_path):
    g = gateways(model["car"])
    m = mounts(["--gateway", g.url, "--cache-dir", tmp_path / "cache", "--timeout", "10"])
    root = m.path(model["manifest_cid"])
    want = expected_pack_tree(model)
    check_contents(root, want, model["src"])
    sha256sum_check(root, model, tmp_path)
    assert pathlib.Path(root, "MODEL_PACK.json").read_bytes() == model["manifest_bytes"]
    cfg = json.loads(pathlib.Path(root, "config.json").read_text())
    assert cfg == json.loads((model["src"] / "config.json").read_text())
    assert cfg == gen_safetensors.CONFIG
    for name, e in model["entries"].items():
        xa = getfattr(os.path.join(root, name))
        assert xa.get("user.mpack.cid") == e["cid"], f"{name}: {xa}"
        assert xa.get("user.mpack.sha256") == e["sha256"], f"{name}: {xa}"
        assert xa.get("user.mpack.pack") == model["manifest_cid"], f"{name}: {xa}"
        assert xa.get("user.mpack.cached") == "100.0", f"{name} after a full read: {xa}"
    assert getfattr(root).get("user.mpack.cid") == model["manifest_cid"]
    assert g.stats()["requests"] > 0, "the gateway served nothing: where did the bytes come from?"
    st = m.stats()
    assert st["store"]["fetched"] > 0 and st["store"]["verify_failures"] == 0, st["store"]
    assert m.unmount() == 0


def test_directory_cid_view(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    root = m.path(model["directory_cid"])
    want = model["files"]  # the source tree, SHA256SUMS included
    assert "SHA256SUMS" in want and "sub/deeper/data.bin" in want
    check_tree(root, want)
    check_contents(root, want, model["src"])
    assert sorted(os.listdir(os.path.join(root, "sub"))) == ["deeper", "notes.txt"]
    assert m.unmount() == 0


def test_relative_car_and_cache_paths(model, mounts, tmp_path):
    """--car and --cache-dir relative to the directory mpackfs was started in (not to /,
    where the daemon may have moved)."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(model["car"], work / "pack.car")
    cache = f"mpkfs-relcache-{os.getpid()}"
    stray = pathlib.Path("/", cache)
    try:
        m = mounts(["--offline", "--car", "pack.car", "--cache-dir", cache], cwd=work)
        root = m.path(model["manifest_cid"])
        assert pathlib.Path(root, "README.md").read_bytes() == model["files"]["README.md"]
        assert (work / cache).is_dir(), "the relative cache dir was not created where asked"
        assert m.unmount() == 0
    finally:
        created_in_root = stray.exists()
        shutil.rmtree(stray, ignore_errors=True)
    assert not created_in_root, f"a relative --cache-dir created {stray}"


def test_kubo_profile_pack(model, mounts, tmp_path):
    """CIDv0 / dag-pb leaves: both views read back the same bytes."""
    src = tmp_path / "kubo"
    shutil.copytree(model["src"], src)
    (src / "SHA256SUMS").unlink()
    res = pack(src, tmp_path / "out", "--profile", "kubo")
    assert res["manifest_cid"].startswith("Qm") and res["directory_cid"].startswith("Qm"), res
    m = mounts(["--offline", "--car", res["car"], "--cache-dir", tmp_path / "cache"])
    files = tree_files(src)
    check_contents(m.path(res["directory_cid"]), files)
    pack_want = {n: files[n] for n, _ in manifest_entries(res["manifest_bytes"])}
    pack_want["MODEL_PACK.json"] = res["manifest_bytes"]
    check_tree(m.path(res["manifest_cid"]), pack_want)
    check_contents(m.path(res["manifest_cid"]), pack_want)
    assert m.unmount() == 0


MMAP_CHECK = r"""
import mmap, sys
path, want = sys.argv[1], open(sys.argv[2], "rb").read()
with open(path, "rb") as f:
    with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
        mid = len(want) // 2
        assert mm[mid:mid + 4096] == want[mid:mid + 4096], "MAP_SHARED: middle page differs"
        assert mm[:] == want, "MAP_SHARED: bytes differ"
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
        assert mm[:] == want, "MAP_PRIVATE: bytes differ"
        mm[0:1] = b"\xff"  # copy-on-write of a private mapping must work
        assert mm[0] == 0xFF and mm[1:] == want[1:]
print("ok")
"""


def test_mmap_shared_and_private(model, mounts, tmp_path):
    """Each file mapped in a child process (a SIGBUS must fail the test, not kill pytest)."""
    m = mounts(car_args(model, tmp_path / "cache"))
    root = m.path(model["manifest_cid"])
    for name, data in expected_pack_tree(model).items():
        if not data:
            continue  # an empty file cannot be mapped
        orig = tmp_path / "orig"
        orig.write_bytes(data)
        p = subprocess.run(["/usr/bin/python3", "-c", MMAP_CHECK, os.path.join(root, name),
                            str(orig)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout == "ok\n", \
            f"{name}: exit {p.returncode} (-7 = SIGBUS)\n{p.stderr}"
    assert m.unmount() == 0


def test_invalid_names_fail_fast_without_network(model, mounts, gateways, tmp_path):
    g = gateways(model["car"])
    m = mounts(["--gateway", g.url, "--cache-dir", tmp_path / "cache"])
    bad = ["not-a-cid", "Qm123", "QmXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX0", "bafyINVALID",
           "b", "z", "hello.txt", model["manifest_cid"] + "x"]
    for name in bad:
        t0 = time.monotonic()
        with pytest.raises(FileNotFoundError):
            os.stat(m.path(name))
        assert time.monotonic() - t0 < 1.0, f"lookup of {name!r} took {time.monotonic() - t0} s"
    assert g.stats()["requests"] == 0, f"invalid names reached the gateway: {g.stats()}"
    assert m.unmount() == 0


def test_root_lists_loaded_packs_and_after_remount(model, mounts, gateways, tmp_path):
    cache = tmp_path / "cache"
    g = gateways(model["car"])
    m = mounts(["--gateway", g.url, "--cache-dir", cache])
    assert model["manifest_cid"] not in os.listdir(m.mp), "a fresh cache lists the pack already"
    assert os.path.isdir(m.path(model["manifest_cid"]))
    assert model["manifest_cid"] in os.listdir(m.mp), os.listdir(m.mp)
    assert m.unmount() == 0
    g.stop()
    m2 = mounts(["--offline", "--cache-dir", cache], mountpoint=m.mp)
    assert model["manifest_cid"] in os.listdir(m2.mp), os.listdir(m2.mp)
    assert m2.unmount() == 0


def test_control_files(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    ver = run([binary("mpackfs"), "--version"]).stdout.split()[:2]
    text = pathlib.Path(m.path(".mpackfs", "version")).read_text()
    assert text.split()[:2] == ver, f"version file {text!r}, mpackfs --version {ver}"
    os.stat(m.path(model["manifest_cid"], "README.md"))
    st = m.stats()
    for key in ("store", "cache", "sources", "packs"):
        assert key in st, f"stats lacks {key}: {st}"
    assert isinstance(st["sources"], list) and isinstance(st["packs"], list)
    assert [p["cid"] for p in st["packs"]] == [model["manifest_cid"]], st["packs"]
    assert st["packs"][0]["kind"] == "modelpack"
    assert st["packs"][0]["files"] == len(model["entries"]), st["packs"][0]
    assert m.unmount() == 0


def test_writes_fail(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    root = m.path(model["manifest_cid"])
    ops = {
        "open w existing": lambda: open(os.path.join(root, "README.md"), "r+b"),
        "create in pack": lambda: open(os.path.join(root, "new.txt"), "wb"),
        "create in root": lambda: open(m.path("new.txt"), "wb"),
        "mkdir": lambda: os.mkdir(os.path.join(root, "newdir")),
        "unlink": lambda: os.unlink(os.path.join(root, "README.md")),
        "rename": lambda: os.rename(os.path.join(root, "README.md"), os.path.join(root, "x")),
        "truncate": lambda: os.truncate(os.path.join(root, "README.md"), 0),
        "chmod": lambda: os.chmod(os.path.join(root, "README.md"), 0o666),
        "setxattr": lambda: os.setxattr(os.path.join(root, "README.md"), "user.x", b"1"),
    }
    for what, op in ops.items():
        with pytest.raises(OSError) as ei:
            op()
        assert ei.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM), \
            f"{what}: errno {ei.value.errno} ({os.strerror(ei.value.errno)})"
    assert pathlib.Path(root, "README.md").read_bytes() == model["files"]["README.md"]
    assert m.unmount() == 0


# ---- 4. a container's view ----

def in_slave_ns(script, **env):
    return subprocess.run(["unshare", "-m", "--propagation", "slave", "sh", "-ec", script],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **{k: str(v) for k, v in env.items()}))


NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"


def test_container_bind_allow_other(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache") + ["-o", "allow_other"])
    src = m.path(model["manifest_cid"])
    dst = tempfile.mkdtemp(prefix="bind.", dir="/tmp")
    os.chmod(dst, 0o755)
    try:
        p = in_slave_ns(
            'mount --bind -o ro "$SRC" "$DST"\n'
            'findmnt -no OPTIONS "$DST" | tr , "\\n" | grep -qx ro\n'
            'cat "$DST/README.md"\n'
            f'{NOBODY} cat "$DST/sub/notes.txt"\n'
            f'{NOBODY} sha256sum "$DST/model-00002-of-00003.safetensors"\n'
            f'if {NOBODY} sh -c \'echo x > "$DST/README.md"\' 2>/dev/null; then exit 9; fi\n',
            SRC=src, DST=dst)
        assert p.returncode == 0, f"exit {p.returncode}:\n{p.stdout}\n{p.stderr}"
        files = model["files"]
        want = (files["README.md"].decode() + files["sub/notes.txt"].decode() +
                hashlib.sha256(files["model-00002-of-00003.safetensors"]).hexdigest())
        assert p.stdout.startswith(want), p.stdout
        # the namespace's bind is gone, the host's mount is intact
        assert os.listdir(dst) == []
    finally:
        os.rmdir(dst)
    assert m.unmount() == 0


def test_container_without_allow_other_denies_other_users(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    src = m.path(model["manifest_cid"])
    dst = tempfile.mkdtemp(prefix="bind.", dir="/tmp")
    os.chmod(dst, 0o755)
    try:
        p = in_slave_ns(
            'mount --bind -o ro "$SRC" "$DST"\n'
            'cat "$DST/README.md" >/dev/null\n'
            f'{NOBODY} cat "$DST/README.md" 2>&1 || echo "rc=$?"\n'
            f'{NOBODY} cat "$SRC/README.md" 2>&1 || echo "rc=$?"\n',
            SRC=src, DST=dst)
        assert p.returncode == 0, f"exit {p.returncode}:\n{p.stdout}\n{p.stderr}"
        assert p.stdout.count("Permission denied") == 2, p.stdout
        assert p.stdout.count("rc=1") == 2, p.stdout
        assert "tiny model" not in p.stdout
    finally:
        os.rmdir(dst)
    assert m.unmount() == 0


# ---- 5. corruption ----

@pytest.fixture(scope="module")
def corrupt_pack(tmp_path_factory):
    """big.bin: 3 full 256 KiB leaves and a 213568-byte tail leaf (unique size)."""
    base = tmp_path_factory.mktemp("corrupt")
    src = base / "cpack"
    src.mkdir()
    big = pattern(1_000_000, 11)
    (src / "big.bin").write_bytes(big)
    (src / "other.bin").write_bytes(pattern(300_000, 12))
    (src / "small.txt").write_text("small file\n")
    res = pack(src, base / "out", "--chunk-size", str(CHUNK))
    res["src"] = src
    res["files"] = tree_files(src)
    res["entries"] = dict(manifest_entries(res["manifest_bytes"]))
    res["leaf"] = raw_cid(big[3 * CHUNK:])
    listed = {b["cid"]: b["size"] for b in car_blocks(res["car"])}
    assert listed.get(res["leaf"]) == 1_000_000 - 3 * CHUNK, \
        f"tail leaf {res['leaf']} not in the CAR listing"
    return res


def read_all(root, entries):
    return {n: hashlib.sha256(pathlib.Path(root, n).read_bytes()).hexdigest() for n in entries}


def test_corrupt_block_is_eio_and_others_read(corrupt_pack, mounts, gateways, tmp_path):
    cp = corrupt_pack
    g = gateways(cp["car"], fault={"mode": "corrupt", "cids": [cp["leaf"]]})
    m = mounts(["--gateway", g.url, "--cache-dir", tmp_path / "cache", "--timeout", "10"])
    root = m.path(cp["manifest_cid"])
    big = cp["files"]["big.bin"]
    fd = os.open(os.path.join(root, "big.bin"), os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 0) == big[:4096], "an honest leaf of big.bin reads wrong"
        t0 = time.monotonic()
        with pytest.raises(OSError) as ei:
            os.pread(fd, 4096, 3 * CHUNK + 100)
        assert ei.value.errno == errno.EIO, f"errno {ei.value.errno}"
        assert time.monotonic() - t0 < 10
    finally:
        os.close(fd)
    with pytest.raises(OSError) as ei:
        pathlib.Path(root, "big.bin").read_bytes()
    assert ei.value.errno == errno.EIO
    for name in ("other.bin", "small.txt", "MODEL_PACK.json"):
        data = pathlib.Path(root, name).read_bytes()
        want = cp["manifest_bytes"] if name == "MODEL_PACK.json" else cp["files"][name]
        assert data == want, f"{name} reads wrong next to a corrupt block"
    st = m.stats()
    assert st["store"]["verify_failures"] >= 1, st["store"]
    assert st["sources"][0]["verify_failures"] >= 1, st["sources"]
    assert g.stats()["faults_applied"] >= 1
    assert cp["leaf"] in m.log(), "no log line names the corrupt block's CID"
    assert m.unmount() == 0


def test_lying_gateway_then_honest_gateway(corrupt_pack, mounts, gateways, tmp_path):
    cp = corrupt_pack
    liar = gateways(cp["car"], fault={"mode": "corrupt", "cids": [cp["leaf"]]})
    honest = gateways(cp["car"])
    m = mounts(["--gateway", liar.url, "--gateway", honest.url,
                "--cache-dir", tmp_path / "cache", "--timeout", "10"])
    root = m.path(cp["manifest_cid"])
    got = read_all(root, cp["entries"])
    want = {n: e["sha256"].split(":", 1)[1] for n, e in cp["entries"].items()}
    assert got == want
    assert pathlib.Path(root, "big.bin").read_bytes() == cp["files"]["big.bin"]
    assert liar.stats()["faults_applied"] >= 1, "the lying gateway was never asked"
    st = m.stats()
    assert st["store"]["verify_failures"] >= 1, st["store"]
    assert [s["url"] for s in st["sources"]] == [liar.url, honest.url], st["sources"]
    assert st["sources"][1]["ok"] >= 1, st["sources"]
    assert m.unmount() == 0


# ---- 6. offline remount ----

def test_offline_remount_after_full_read(model, mounts, gateways, tmp_path):
    cache = tmp_path / "cache"
    g = gateways(model["car"])
    m = mounts(["--gateway", g.url, "--cache-dir", cache])
    want = {n: e["sha256"].split(":", 1)[1] for n, e in model["entries"].items()}
    assert read_all(m.path(model["manifest_cid"]), model["entries"]) == want
    assert m.unmount() == 0
    g.stop()
    m2 = mounts(["--offline", "--cache-dir", cache], mountpoint=m.mp)
    root = m2.path(model["manifest_cid"])
    assert read_all(root, model["entries"]) == want
    assert pathlib.Path(root, "MODEL_PACK.json").read_bytes() == model["manifest_bytes"]
    sha256sum_check(root, model, tmp_path)
    st = m2.stats()
    assert st["store"]["fetched"] == 0 and st["store"]["cache_hits"] > 0, st["store"]
    assert m2.unmount() == 0


# ---- 7. dead and stalled sources ----

def warm_manifest_only(model, mounts, gateways, cache, missing):
    """Load the pack through a gateway that 404s the block `missing`, so the cache holds the
    manifest but not that file."""
    g = gateways(model["car"], fault={"mode": "404", "cids": [missing]})
    m = mounts(["--gateway", g.url, "--cache-dir", cache, "--timeout", "5"])
    assert os.path.isdir(m.path(model["manifest_cid"]))
    assert m.unmount() == 0
    g.stop()


@pytest.mark.parametrize("kind", ["closed_port", "stall"])
def test_dead_source_fails_within_timeout(model, mounts, gateways, tmp_path, kind):
    name = "README.md"
    cid = model["entries"][name]["cid"]
    assert cid.startswith("bafkrei"), f"{name} should be a single raw block: {cid}"
    cache = tmp_path / "cache"
    warm_manifest_only(model, mounts, gateways, cache, cid)
    if kind == "closed_port":
        url = f"http://127.0.0.1:{closed_port()}"
    else:
        url = gateways(model["car"], fault={"mode": "stall", "cids": [cid], "stall_s": 30}).url
    m = mounts(["--gateway", url, "--cache-dir", cache, "--timeout", "3"])
    path = m.path(model["manifest_cid"], name)
    assert os.path.getsize(path) == len(model["files"][name])
    t0 = time.monotonic()
    with pytest.raises(OSError) as ei:
        with open(path, "rb") as f:
            f.read()
    took = time.monotonic() - t0
    assert ei.value.errno in (errno.EIO, errno.ETIMEDOUT), \
        f"errno {ei.value.errno} ({os.strerror(ei.value.errno)})"
    assert took < 3 + 2, f"the failure took {took:.2f} s with --timeout 3"
    time.sleep(0.2)
    assert cid in m.log(), "no log line names the CID that could not be fetched"
    assert m.unmount() == 0


def test_interrupted_read_returns_promptly(model, mounts, gateways, tmp_path):
    """A reader killed by a signal while its block stalls gets out at once, and mpackfs
    drops the wait (counted as interrupted) instead of holding a thread until the deadline."""
    name = "README.md"
    cid = model["entries"][name]["cid"]
    cache = tmp_path / "cache"
    warm_manifest_only(model, mounts, gateways, cache, cid)
    url = gateways(model["car"], fault={"mode": "stall", "cids": [cid], "stall_s": 60}).url
    m = mounts(["--gateway", url, "--cache-dir", cache, "--timeout", "60"])
    path = m.path(model["manifest_cid"], name)
    # cat with SIGINT at its default: a suite run in the background of a non-interactive
    # shell inherits SIGINT ignored, and cat would then sit out the whole stall.
    reader = subprocess.Popen(["cat", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.0)
    assert reader.poll() is None, "the read should still be waiting on the stalled block"
    t0 = time.monotonic()
    reader.send_signal(signal.SIGINT)
    reader.wait(timeout=10)
    assert time.monotonic() - t0 < 2, "the interrupted reader did not return promptly"
    deadline = time.monotonic() + 5
    while m.stats()["store"]["interrupted"] < 1:
        assert time.monotonic() < deadline, f"no interrupted wait counted: {m.stats()['store']}"
        time.sleep(0.1)
    assert m.unmount() == 0


# ---- 8. SIGTERM ----

def test_sigterm_unmounts_cleanly(model, mounts, tmp_path):
    m = mounts(car_args(model, tmp_path / "cache"))
    assert pathlib.Path(m.path(model["manifest_cid"], "README.md")).read_bytes() == \
        model["files"]["README.md"]
    rc = m.terminate()
    assert rc == 0, f"mpackfs exited {rc} on SIGTERM"
    assert not m.mounted(), "the mount is still there after SIGTERM"
    m.proc = None


def test_sigterm_frees_handles_the_kernel_never_released(model, mounts, tmp_path):
    """SIGTERM while a file and a directory are still open: their RELEASE never arrives, so
    mpackfs frees them itself. Without that, ASan's leak check fails the ASan run and the
    log line below is missing in both builds."""
    m = mounts(car_args(model, tmp_path / "cache") + ["--log-level", "debug"])
    root = m.path(model["manifest_cid"])
    fd = os.open(os.path.join(root, "README.md"), os.O_RDONLY)
    dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert os.read(fd, 1 << 20) == model["files"]["README.md"]
        assert "README.md" in os.listdir(dfd)
        rc = m.terminate()
    finally:
        for f in (fd, dfd):
            try:
                os.close(f)
            except OSError:
                pass
    log = m.log()
    assert rc == 0, f"mpackfs exited {rc} on SIGTERM:\n{log[-3000:]}"
    freed = re.search(r"freed (\d+) handles the kernel did not release", log)
    assert freed and int(freed.group(1)) >= 2, log[-3000:]
    assert not m.mounted()
    m.proc = None
