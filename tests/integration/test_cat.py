"""`mpack cat` from CAR files, offline: DAGs built by the JS reference importer (trickle and
balanced layouts, raw and dag-pb leaves, deep trees, flat and HAMT-sharded directories) and
packs made by `mpack pack --car`; usage errors, failures, corrupt CARs, closed pipes.
Network sources are covered in test_store.py."""
import hashlib
import json
import os
import subprocess

import pytest


def cat(mpack, *args, timeout=120):
    return subprocess.run([mpack, "cat", *map(str, args)], capture_output=True, timeout=timeout)


def cat_car(mpack, car, path, *extra):
    return cat(mpack, "--offline", "--no-cache", "--car", car, path, *extra)


def content(size, seed):
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    block = hashlib.sha256(b"seed %d" % seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def js_file(run_node, tmp_path, data, name, *opts):
    src = tmp_path / (name + ".bin")
    src.write_bytes(data)
    car = tmp_path / (name + ".car")
    proc = run_node("oracle/trickle.mjs", "file", "--in", src, "--out", car, *opts)
    doc = json.loads(proc.stdout)
    assert doc["size"] == len(data)
    return car, doc["root"], doc["blocks"]


LAYOUTS = [
    # (name, options for trickle.mjs)
    ("trickle-pb", ["--layout", "trickle", "--chunk", "512", "--max-links", "3",
                    "--layer-repeat", "2"]),
    ("trickle-raw", ["--layout", "trickle", "--raw-leaves", "--chunk", "700",
                     "--max-links", "4"]),
    ("trickle-v0", ["--layout", "trickle", "--cid-version", "0", "--chunk", "1000",
                    "--max-links", "5"]),
    ("balanced-pb", ["--layout", "balanced", "--chunk", "512", "--max-links", "3"]),
    ("balanced-raw", ["--layout", "balanced", "--raw-leaves", "--chunk", "999",
                      "--max-links", "2"]),
    ("balanced-v0", ["--layout", "balanced", "--cid-version", "0", "--chunk", "4096",
                     "--max-links", "174"]),
]


@pytest.mark.parametrize("name,opts", LAYOUTS, ids=[n for n, _ in LAYOUTS])
@pytest.mark.parametrize("size", [0, 1, 512, 70001])
def test_js_layouts(mpack, run_node, tmp_path, name, opts, size):
    data = content(size, size + len(name))
    car, root, blocks = js_file(run_node, tmp_path, data, name, *opts)
    p = cat_car(mpack, car, root)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == data, (f"{name} size {size} ({blocks} blocks): got {len(p.stdout)} "
                              f"bytes, first difference at "
                              f"{next((i for i, (a, b) in enumerate(zip(p.stdout, data)) if a != b), min(len(p.stdout), len(data)))}")
    assert p.stderr == b""


@pytest.mark.parametrize("mode,bits", [("sharded", 8), ("sharded", 4), ("sharded", 2),
                                       ("flat", 8)])
def test_js_directories(mpack, run_node, tmp_path, mode, bits):
    car = tmp_path / "dir.car"
    proc = run_node("oracle/trickle.mjs", mode, "--out", car, "--files", 300,
                    "--fanout-bits", bits)
    doc = json.loads(proc.stdout)
    assert len(doc["files"]) == 300
    bad = []
    for f in doc["files"]:
        p = cat_car(mpack, car, f"{doc['root']}/{f['name']}")
        if p.returncode != 0 or p.stdout != f"content of {f['name']}\n".encode():
            bad.append((f["name"], p.returncode, p.stderr.decode()[-200:]))
    assert not bad, f"{len(bad)} of 300 lookups failed, e.g. {bad[:3]}"
    p = cat_car(mpack, car, f"{doc['root']}/file-9999.txt")
    assert p.returncode == 1 and b"no such entry" in p.stderr, p.stderr
    p = cat_car(mpack, car, doc["root"])
    assert p.returncode == 1 and b"is a directory" in p.stderr, p.stderr


@pytest.fixture(scope="module")
def pack(mpack, tmp_path_factory):
    """A model dir packed with 64 KiB chunks (many leaves), its CAR and --json output."""
    d = tmp_path_factory.mktemp("pack")
    model = d / "model"
    (model / "weights").mkdir(parents=True)
    files = {"model.safetensors": content(1_000_003, 1), "config.json": b'{"a": 1}\n',
             "weights/extra.bin": content(70_000, 2), "README.md": b"# tiny\n"}
    for name, data in files.items():
        (model / name).write_bytes(data)
    car = d / "model.car"
    p = subprocess.run([mpack, "pack", str(model), "--car", str(car), "--json",
                        "--chunk-size", "65536", "--out", str(d / "MODEL_PACK.json")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return {"car": car, "doc": json.loads(p.stdout), "files": files, "dir": d}


def test_pack_paths(mpack, pack):
    m, dcid = pack["doc"]["manifest_cid"], pack["doc"]["directory_cid"]
    for name, data in pack["files"].items():
        for root in (m, dcid):
            p = cat_car(mpack, pack["car"], f"{root}/{name}")
            assert p.returncode == 0, p.stderr.decode()
            assert hashlib.sha256(p.stdout).digest() == hashlib.sha256(data).digest(), name
    by_path = {f["path"]: f["cid"] for f in pack["doc"]["files"]}
    p = cat_car(mpack, pack["car"], by_path["model.safetensors"])
    assert p.stdout == pack["files"]["model.safetensors"]
    p = cat_car(mpack, pack["car"], f"/ipfs/{m}/config.json")
    assert p.stdout == b'{"a": 1}\n'
    p = cat_car(mpack, pack["car"], m)  # the manifest itself is a file
    assert p.returncode == 0 and json.loads(p.stdout)["shards"], p.stderr


def test_with_cache(mpack, pack, tmp_path):
    """A CAR read with a cache directory and a size limit (the cache is created)."""
    m = pack["doc"]["manifest_cid"]
    cache = tmp_path / "cache"
    p = cat(mpack, "--offline", "--cache-dir", cache, "--car", pack["car"],
            f"{m}/weights/extra.bin")
    assert p.returncode == 0 and p.stdout == pack["files"]["weights/extra.bin"], p.stderr
    p = cat(mpack, "--offline", "--cache-dir", cache, "--car", pack["car"],
            "--cache-size", "64M", f"{m}/weights/extra.bin")
    assert p.returncode == 0 and p.stdout == pack["files"]["weights/extra.bin"]
    assert cache.is_dir()


def test_failures(mpack, pack, tmp_path):
    m = pack["doc"]["manifest_cid"]
    cases = [
        (f"{m}/nope.bin", b"not in manifest"),
        (f"{m}/../x", b"'..' is not allowed"),
        (f"{m}//x", b"is not allowed"),
        (f"{pack['doc']['directory_cid']}/weights", b"is a directory"),
        (f"{pack['doc']['directory_cid']}/README.md/x", b"not a directory"),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", b"offline"),
        ("notacid", b"notacid"),
    ]
    for path, why in cases:
        p = cat_car(mpack, pack["car"], path)
        assert p.returncode == 1, (path, p.returncode, p.stderr)
        assert p.stderr.decode().count("mpack cat: ") == 1 and why in p.stderr, (path, p.stderr)
        assert p.stdout == b"", path
    p = cat(mpack, "--offline", "--no-cache", "--car", tmp_path / "missing.car", m)
    assert p.returncode == 1 and b"missing.car" in p.stderr, p.stderr
    junk = tmp_path / "junk.car"
    junk.write_bytes(b"\x05hello this is not a car")
    p = cat(mpack, "--offline", "--no-cache", "--car", junk, m)
    assert p.returncode == 1 and b"junk.car" in p.stderr, p.stderr


def test_usage(mpack):
    for args, why in [([], b"usage"), (["--bogus", "x"], b"--bogus"), (["a", "b"], b"'b'"),
                      (["--cache-size", "lots", "x"], b"--cache-size"),
                      (["--gateway"], b"--gateway needs a value"),
                      (["--gateway", "ftp://x", "x"], b"ftp://x"),
                      (["--timeout", "0", "x"], b"--timeout")]:
        p = cat(mpack, *args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert why in p.stderr, (args, p.stderr)
        assert p.stdout == b""
    p = cat(mpack, "--help")
    assert p.returncode == 0 and b"usage: mpack cat" in p.stdout and b"--gateway" in p.stdout
    p = subprocess.run([mpack, "--help"], capture_output=True, text=True)
    assert "cat" in p.stdout


def corrupt_car(src, dst, needle):
    """Copy a CAR, flipping one byte inside the block bytes that start with needle."""
    data = bytearray(src.read_bytes())
    at = data.find(needle)
    assert at > 0
    data[at + len(needle) // 2] ^= 0x40
    dst.write_bytes(bytes(data))


def test_corrupt_car_never_writes_bad_bytes(mpack, pack, tmp_path):
    """A leaf in the middle of the file is damaged inside the CAR: cat fails with exit 1 and
    what it wrote before failing is an exact prefix of the file, ending on a leaf boundary
    before the damaged leaf."""
    data = pack["files"]["model.safetensors"]
    bad_at = 5 * 65536 + 100  # inside leaf 5
    bad = tmp_path / "bad.car"
    corrupt_car(pack["car"], bad, data[bad_at:bad_at + 64])
    m = pack["doc"]["manifest_cid"]
    p = cat_car(mpack, bad, f"{m}/model.safetensors")
    assert p.returncode == 1, p.stderr
    assert b"hash mismatch" in p.stderr or b"mismatch" in p.stderr, p.stderr
    assert len(p.stdout) <= 5 * 65536 and len(p.stdout) % 65536 == 0, len(p.stdout)
    assert p.stdout == data[:len(p.stdout)]
    # the other files of the pack are still fine
    p = cat_car(mpack, bad, f"{m}/weights/extra.bin")
    assert p.returncode == 0 and p.stdout == pack["files"]["weights/extra.bin"]


def test_closed_pipe_is_quiet(mpack, pack):
    m = pack["doc"]["manifest_cid"]
    p = subprocess.run(f"'{mpack}' cat --offline --no-cache --car '{pack['car']}' "
                       f"{m}/model.safetensors | head -c 10 >/dev/null; "
                       f"echo \"${{PIPESTATUS[0]}}\"", shell=True, executable="/bin/bash",
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "0", p
    assert p.stderr == "", p.stderr


def test_car_v2_and_several_cars(mpack, pack, tmp_path, run_node):
    """Blocks spread over two CAR files (one of them CARv2) are all found."""
    data = content(20000, 9)
    car1, root, _ = js_file(run_node, tmp_path, data, "two", "--layout", "balanced",
                            "--raw-leaves", "--chunk", "1000", "--max-links", "4")
    v1 = car1.read_bytes()
    pragma = b"\x0a\xa1\x67version\x02"
    off = len(pragma) + 40
    hdr = bytes(16) + off.to_bytes(8, "little") + len(v1).to_bytes(8, "little") + bytes(8)
    v2 = tmp_path / "two.v2.car"
    v2.write_bytes(pragma + hdr + v1)
    p = cat_car(mpack, v2, root)
    assert p.returncode == 0 and p.stdout == data, p.stderr
    p = cat(mpack, "--offline", "--no-cache", "--car", pack["car"], "--car", v2, root)
    assert p.returncode == 0 and p.stdout == data, p.stderr
    env = dict(os.environ, MPACKFS_OFFLINE="1", MPACKFS_CACHE_DIR=str(tmp_path / "envcache"))
    p = subprocess.run([mpack, "cat", "--car", str(v2), root], capture_output=True, env=env,
                       timeout=60)
    assert p.returncode == 0 and p.stdout == data, p.stderr
    assert (tmp_path / "envcache").is_dir()
