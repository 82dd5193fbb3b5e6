"""mpack pack against the reference JS importer (ipfs-unixfs-importer): every file CID,
the directory CID, the manifest CID and the CAR's blocks must match, for all profiles."""
import json
import os
import subprocess

import pytest
from conftest import TESTS, run_node

# profile → (cid version, raw leaves, chunk size, max links), as src/importer.h defines them
PROFILES = {
    "modelpack": (1, True, 1048576, 1024),
    "kubo": (0, False, 262144, 174),
    "kubo-v1": (1, True, 262144, 174),
}
SMALL = (1024, 4)  # chunk size, max links for cheap multi-level trees


def run_pack(mpack, d, *args):
    e = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    p = subprocess.run([mpack, "pack", str(d), "--json", *args], capture_output=True,
                       text=True, env=e, timeout=300)
    assert p.returncode == 0, f"mpack pack failed ({p.returncode}): {p.stderr}"
    return json.loads(p.stdout)


def js_import(path, cid_version, raw_leaves, chunk, links, exclude=()):
    args = [path, "--cid-version", cid_version, "--raw-leaves", str(raw_leaves).lower(),
            "--chunk-size", chunk, "--max-links", links]
    for name in exclude:
        args += ["--exclude", name]
    return json.loads(run_node("oracle/import.mjs", *args).stdout)


def car_read(path):
    # stdout goes to a file: car_read.mjs calls process.exit() right after writing, which
    # cuts output to a pipe at 64 KiB
    out = f"{path}.read.json"
    with open(out, "w") as f:
        p = subprocess.run(["node", "oracle/car_read.mjs", str(path)], cwd=TESTS, stdout=f,
                           stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 0, f"car_read.mjs rejected the CAR ({p.returncode}): {p.stderr}"
    with open(out) as f:
        return json.load(f)


def pattern(n, seed):
    """Deterministic non-repeating bytes (repeating chunks would dedupe blocks)."""
    out = bytearray()
    x = seed * 2654435761 + 1
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def sizes_tree(d, chunk, links):
    """Files at every layout boundary for the given chunk size and fanout."""
    sizes = {
        "empty.bin": 0, "one.txt": 1, "chunk-minus-1": chunk - 1, "chunk": chunk,
        "chunk-plus-1": chunk + 1, "full-level": chunk * links,
        "full-level-plus-1": chunk * links + 1, "many": chunk * 3 * links // 2 + 17,
        "two-levels-full": chunk * links * links,
        "three-levels": chunk * (links * links + 2) + 5,
    }
    d.mkdir()
    for i, (name, n) in enumerate(sorted(sizes.items())):
        (d / name).write_bytes(pattern(n, i))
    return sizes


def nested_tree(d):
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama", "hidden_size": 64}\n')
    (d / "tokenizer.json").write_text('{"version": "1.0"}\n')
    (d / "model-00001-of-00002.safetensors").write_bytes(pattern(5000, 1))
    (d / "model-00002-of-00002.safetensors").write_bytes(pattern(3000, 2))
    (d / "a.txt").write_text("hello world\n")
    (d / "a.txt.bak").write_text("hello world\n")  # same content: shared block
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "sub" / "deeper" / "x.bin").write_bytes(pattern(2500, 3))
    (d / "sub" / "readme.md").write_text("# sub\n")
    (d / "sub" / "empty-dir").mkdir()
    (d / "only-hidden").mkdir()
    (d / "only-hidden" / ".keep").write_text("")
    (d / ".git").mkdir()
    (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (d / ".hidden").write_text("secret\n")
    os.symlink("a.txt", d / "link-to-a")
    os.symlink("sub/deeper", d / "link-to-dir")


def profile_args(profile, small):
    args = ["--profile", profile]
    if small:
        args += ["--chunk-size", str(SMALL[0]), "--max-links", str(SMALL[1])]
    return args


def params(profile, small):
    v, raw, chunk, links = PROFILES[profile]
    return (v, raw) + (SMALL if small else (chunk, links))


def check_against_js(d, res, prm):
    js = js_import(d, *prm, exclude=["MODEL_PACK.json"])
    assert res["directory_cid"] == js["root"], "directory CID differs from the JS importer"
    ours = {f["path"]: f["cid"] for f in res["files"]}
    theirs = {p: c for p, c in js["entries"].items() if p in ours}
    assert set(theirs) == set(ours), f"file sets differ: {set(ours) ^ set(theirs)}"
    for p in sorted(ours):
        assert ours[p] == theirs[p], f"{p}: mpack {ours[p]} != js {theirs[p]}"
    man = js_import(res["manifest_path"], *prm)
    assert res["manifest_cid"] == man["root"], "manifest CID differs from the JS importer"
    return js, man


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_layout_boundaries(mpack, tmp_path, profile):
    d = tmp_path / "m"
    sizes = sizes_tree(d, *SMALL)
    res = run_pack(mpack, d, *profile_args(profile, True))
    by_path = {f["path"]: f for f in res["files"]}
    for name, n in sizes.items():
        assert by_path[name]["size"] == n
    check_against_js(d, res, params(profile, True))


def test_cidv1_dagpb_leaves(mpack, tmp_path):
    """CIDv1 with dag-pb leaves (--no-raw-leaves): v1 parents and v1 File leaves."""
    d = tmp_path / "m"
    sizes_tree(d, *SMALL)
    res = run_pack(mpack, d, "--no-raw-leaves", "--chunk-size", str(SMALL[0]),
                   "--max-links", str(SMALL[1]))
    check_against_js(d, res, (1, False) + SMALL)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_real_profile_params(mpack, tmp_path, profile):
    """The profile's own chunk size and fanout, on files of a few chunks."""
    chunk = PROFILES[profile][2]
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.safetensors").write_bytes(pattern(2 * chunk + 1000, 7))
    (d / "exact.bin").write_bytes(pattern(chunk, 8))
    (d / "small.json").write_text('{"a": 1}\n')
    res = run_pack(mpack, d, "--profile", profile)
    check_against_js(d, res, params(profile, False))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_nested_tree_and_car(mpack, tmp_path, profile):
    d = tmp_path / "model"
    nested_tree(d)
    car = tmp_path / "model.car"
    res = run_pack(mpack, d, *profile_args(profile, True), "--car", str(car))
    paths = {f["path"] for f in res["files"]}
    assert ".hidden" not in paths and ".git/HEAD" not in paths
    assert "link-to-a" not in paths, "symlinks are not manifest files"
    js, man = check_against_js(d, res, params(profile, True))
    assert js["entries"]["link-to-a"] is not None

    got = car_read(car)
    assert got["roots"] == [res["manifest_cid"]]
    assert all(b["ok"] for b in got["blocks"]), "a CAR block does not verify"
    cids = [b["cid"] for b in got["blocks"]]
    assert len(cids) == len(set(cids)), "duplicate blocks in the CAR"
    assert set(cids) == set(js["blocks"]) | set(man["blocks"]), "CAR blocks != JS blocks"
    assert res["blocks"] == len(cids)
    assert res["bytes"] == sum(b["size"] for b in got["blocks"])


def test_hello_world_kubo(mpack, tmp_path):
    d = tmp_path / "h"
    d.mkdir()
    (d / "hello.txt").write_text("hello world\n")
    res = run_pack(mpack, d, "--profile", "kubo")
    f = {f["path"]: f for f in res["files"]}["hello.txt"]
    assert f["cid"] == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    res = run_pack(mpack, d, "--profile", "modelpack")
    f = {f["path"]: f for f in res["files"]}["hello.txt"]
    assert f["cid"] == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.mark.parametrize("profile", ["kubo", "modelpack"])
def test_hamt_sharded_directory(mpack, tmp_path, profile):
    """Past 256 KiB of estimated links the directory becomes a HAMT (like `ipfs add`)."""
    d = tmp_path / "big"
    d.mkdir()
    for i in range(1200):  # 1200 * (~206 name bytes + 34..36 CID bytes) > 262144
        (d / (f"f{i:04d}-" + "x" * 200)).write_text(str(i))
    (d / "sub").mkdir()
    (d / "sub" / "a.txt").write_text("a\n")
    car = tmp_path / "big.car"
    res = run_pack(mpack, d, "--profile", profile, "--car", str(car))
    js, man = check_against_js(d, res, params(profile, False))
    got = car_read(car)
    assert {b["cid"] for b in got["blocks"]} == set(js["blocks"]) | set(man["blocks"])
