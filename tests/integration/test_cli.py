"""The operator commands of `mpack` without a network: info, ls, verify, import, export,
cache stats/gc/scrub/clear, unpin, init-template; usage errors and exit codes (0 ok, 1
failure, 2 usage) for every command. Packs are built with `mpack pack` (and the JS reference
importer for HAMT directories); blocks come from CAR files or a private cache only
(--offline or --car). Cache corruption is made by flipping a byte of a block's bytes inside
the LMDB data file, which stores values verbatim. Transfers (prefetch, pin, publish,
progress output) are in test_cli_net.py, which imports the helpers here."""
import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "fixture"))
import gateway as gwmod  # noqa: E402  (CAR and CID text helpers)

CHUNK = 65536


def content(size, seed):
    out = bytearray()
    block = hashlib.sha256(b"cli %d" % seed).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("MPACKFS_")}


def mp(mpack, *args, timeout=120, input=None, env=None):
    """Run mpack; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([mpack, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, input=input, env=env or clean_env())


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p


def fails(p, status, *fragments):
    assert p.returncode == status, (f"expected exit {status}, got {p.returncode}\n"
                                    f"stdout: {p.stdout}\nstderr: {p.stderr}")
    for f in fragments:
        assert f in p.stderr, f"{f!r} not in stderr: {p.stderr!r}"
    return p


def raw_cid(data):
    """CIDv1 raw sha2-256 of a block, base32."""
    b = bytes([1, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(b).decode().lower().rstrip("=")


def corrupt_cache_block(cache_dir, data):
    """Flip one byte of a cached block whose bytes are `data`, in place in data.mdb."""
    path = os.path.join(cache_dir, "data.mdb")
    db = bytearray(open(path, "rb").read())
    probe = data[len(data) // 2: len(data) // 2 + 64]
    at = db.find(probe)
    assert at >= 0, "block bytes not found in the cache file"
    assert db.find(probe, at + 1) < 0, "block bytes found twice in the cache file"
    db[at + 7] ^= 0xFF
    with open(path, "r+b") as fh:
        fh.seek(at + 7)
        fh.write(bytes([db[at + 7]]))


def make_pack(mpack, root, name, files, *extra):
    """Write files into root/name, `mpack pack --car --json` it; returns a dict."""
    d = root / name
    for rel, data in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    car = root / (name + ".car")
    p = ok(mp(mpack, "pack", d, "--car", car, "--json", "--chunk-size", CHUNK, "--out",
              root / (name + ".json"), "--version", "2.0", *extra))
    doc = json.loads(p.stdout)
    return {"dir": d, "car": car, "manifest": doc["manifest_cid"], "tree": doc["directory_cid"],
            "files": {f["path"]: f for f in doc["files"]}, "data": files, "doc": doc,
            "manifest_path": root / (name + ".json")}


MODEL_FILES = {
    "model.safetensors": content(20 * CHUNK + 777, 1),
    "tokenizer.json": content(3 * CHUNK, 2),
    "config.json": b'{"hidden_size": 64}\n',
    "docs/README.md": b"# tiny model\n",
    "docs/deep/notes.txt": b"notes\n",
}


@pytest.fixture(scope="module")
def pack(mpack, tmp_path_factory):
    return make_pack(mpack, tmp_path_factory.mktemp("clipack"), "model", MODEL_FILES)


@pytest.fixture(scope="module")
def cached(mpack, pack, tmp_path_factory):
    """A cache holding the whole pack (manifest, files and the directory tree)."""
    cdir = tmp_path_factory.mktemp("clicache")
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    return cdir


def car_sections(car):
    """(header bytes, [(cid text, section bytes)]) of a CARv1 file."""
    data = car.read_bytes()
    hlen, pos = gwmod.varint_decode(data)
    header, pos = data[:pos + hlen], pos + hlen
    out = []
    while pos < len(data):
        slen, body = gwmod.varint_decode(data, pos)
        clen = gwmod.cid_len(data, body)
        out.append((gwmod.cid_text(data[body:body + clen]), data[pos:body + slen]))
        pos = body + slen
    return header, out


def car_subset(src, dst, keep):
    """Write dst: src's header and the sections whose CID text is in keep."""
    header, sections = car_sections(src)
    dst.write_bytes(header + b"".join(s for cid, s in sections if cid in keep))


def leaf_cids(data):
    return [raw_cid(data[i:i + CHUNK]) for i in range(0, len(data), CHUNK)]


# ---- usage and help ----

COMMANDS = ["info", "ls", "prefetch", "pin", "unpin", "verify", "import", "export", "publish",
            "cache", "init-template"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(mpack, cmd):
    p = ok(mp(mpack, cmd, "--help"))
    assert p.stdout.startswith(f"usage: mpack {cmd}"), p.stdout
    assert "Exit status" in p.stdout
    assert ok(mp(mpack, cmd, "-h")).stdout == p.stdout


def test_top_level_help_lists_commands(mpack):
    out = ok(mp(mpack, "--help")).stdout
    for cmd in COMMANDS:
        assert f"\n  {cmd} " in out, cmd


CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
USAGE = [
    (["info"], "mpack info: missing CID"),
    (["info", "--bogus", CID], "mpack info: unknown option '--bogus'"),
    (["info", CID, CID], "mpack info: unexpected argument"),
    (["info", "--timeout", "0", CID], "--timeout"),
    (["ls"], "mpack ls: missing CID"),
    (["ls", "-x", CID], "mpack ls: unknown option '-x'"),
    (["prefetch"], "mpack prefetch: missing CID"),
    (["prefetch", "-j", "0", CID], "-j: '0' is not a number from 1 to 64"),
    (["prefetch", "-j", "x", CID], "-j: 'x'"),
    (["prefetch", "-j"], "-j: ''"),
    (["prefetch", "--no-cache", CID], "--no-cache"),
    (["pin", "--pin", CID], "mpack pin: unknown option '--pin'"),
    (["unpin"], "mpack unpin: missing CID"),
    (["unpin", "--no-cache", CID], "--no-cache"),
    (["verify"], "mpack verify: missing CID"),
    (["verify", "--fast", CID], "unknown option"),
    (["import"], "mpack import: missing FILE.car"),
    (["import", "--no-cache", "x.car"], "--no-cache"),
    (["export", CID], "mpack export: missing -o FILE.car"),
    (["export", "-o"], "-o needs a FILE"),
    (["export", "-o", "x.car"], "missing CID"),
    (["publish", "--gateway", "http://127.0.0.1:9", CID], "no Kubo API to publish to"),
    (["publish", "--api", "ftp://x", CID], "--api"),
    (["publish"], "missing CID"),
    (["cache"], "missing subcommand"),
    (["cache", "frob"], "unknown subcommand 'frob'"),
    (["cache", "clear"], "add --yes"),
    (["cache", "stats", "--target", "1G"], "--target is an option of 'cache gc'"),
    (["cache", "gc", "--target", "lots"], "--target: 'lots' is not a size"),
    (["cache", "stats", "--yes"], "--yes is an option of 'cache clear'"),
    (["cache", "stats", "extra"], "unexpected argument 'extra'"),
    (["init-template"], "give either --out FILE or --check FILE"),
    (["init-template", "--out", "a", "--check", "b"], "give either"),
    (["init-template", "--check", "b", "--force"], "--force goes with --out"),
    (["init-template", "--out"], "--out needs a FILE"),
    (["init-template", "--what"], "unexpected argument '--what'"),
]


@pytest.mark.parametrize("args,fragment", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors(mpack, tmp_path, args, fragment):
    if args[0] == "init-template":
        p = mp(mpack, *args)
    else:
        p = mp(mpack, args[0], "--cache-dir", tmp_path / "c", *args[1:])
    fails(p, 2, fragment)
    assert "Traceback" not in p.stderr


def test_bad_cid_is_a_failure_with_reason(mpack, tmp_path):
    for cmd in ("info", "ls", "verify", "prefetch"):
        p = fails(mp(mpack, cmd, "--offline", "--cache-dir", tmp_path / "c", "bafynotacid"), 1,
                  f"mpack {cmd}: bafynotacid:")
        assert "cid" in p.stderr


# ---- import / export ----

def test_import_counts_and_packs(mpack, pack, tmp_path):
    cdir = tmp_path / "c"
    p = ok(mp(mpack, "import", "--json", "--cache-dir", cdir, pack["car"]))
    doc = json.loads(p.stdout)
    f = doc["files"][0]
    assert f["blocks"] == pack["doc"]["blocks"] and f["new"] == f["blocks"]
    assert f["present"] == 0 and f["bad"] == 0 and f["error"] is None
    assert f["roots"] == [{"cid": pack["manifest"], "kind": "manifest"}]
    assert (doc["new"], doc["present"], doc["bad"]) == (f["blocks"], 0, 0)
    again = json.loads(ok(mp(mpack, "import", "--json", "--cache-dir", cdir,
                             pack["car"])).stdout)
    assert again["new"] == 0 and again["present"] == f["blocks"]
    text = ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"])).stdout
    assert f"0 new, {f['blocks']} already present, 0 bad" in text
    assert f"root {pack['manifest']} (manifest)" in text
    stats = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert stats["packs"] == [{"cid": pack["manifest"], "label": "model"}]
    assert stats["blocks"] == f["blocks"]


def test_import_rejects_bad_blocks(mpack, pack, tmp_path):
    data = bytearray(pack["car"].read_bytes())
    leaf = MODEL_FILES["model.safetensors"][:CHUNK]
    at = data.find(leaf[100:164])
    data[at] ^= 1
    bad = tmp_path / "bad.car"
    bad.write_bytes(bytes(data))
    cdir = tmp_path / "c"
    p = fails(mp(mpack, "import", "--json", "--cache-dir", cdir, bad), 1, raw_cid(leaf),
              "hash mismatch", "(not stored)")
    doc = json.loads(p.stdout)
    assert doc["bad"] == 1 and doc["new"] == pack["doc"]["blocks"] - 1
    stats = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert stats["blocks"] == pack["doc"]["blocks"] - 1


def test_import_malformed_and_missing(mpack, pack, tmp_path):
    trunc = tmp_path / "trunc.car"
    trunc.write_bytes(pack["car"].read_bytes()[:-100])
    p = fails(mp(mpack, "import", "--cache-dir", tmp_path / "c", trunc), 1,
              f"mpack import: {trunc}:")
    assert "blocks:" in p.stdout  # what was read before the damage is reported (and kept)
    fails(mp(mpack, "import", "--cache-dir", tmp_path / "c", tmp_path / "nope.car"), 1,
          "No such file")
    junk = tmp_path / "junk.car"
    junk.write_bytes(b"this is not a car file at all")
    fails(mp(mpack, "import", "--cache-dir", tmp_path / "c", junk), 1, f"{junk}:")


def test_import_stdin(mpack, pack, tmp_path):
    p = subprocess.run([mpack, "import", "--json", "--cache-dir", str(tmp_path / "c"), "-"],
                       stdin=open(pack["car"], "rb"), capture_output=True, text=True,
                       timeout=60, env=clean_env())
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["new"] == pack["doc"]["blocks"]


def car_blocks(mpack, car):
    doc = json.loads(ok(mp(mpack, "car", "ls", "--json", car)).stdout)
    assert doc["bad"] == 0
    return doc


def test_export_import_cat_roundtrip(mpack, pack, cached, tmp_path):
    out = tmp_path / "out.car"
    p = ok(mp(mpack, "export", "--offline", "--cache-dir", cached, pack["manifest"], "-o", out,
              "--json"))
    rep = json.loads(p.stdout)
    assert rep["cid"] == pack["manifest"] and rep["path"] == str(out)
    assert not (tmp_path / "out.car.tmp").exists()
    doc = car_blocks(mpack, out)
    assert doc["roots"] == [pack["manifest"]]
    cids = [b["cid"] for b in doc["blocks"]]
    assert len(cids) == len(set(cids)) == rep["blocks"]
    assert sum(b["size"] for b in doc["blocks"]) == rep["bytes"]
    # Into an empty cache, then every file offline, byte for byte.
    c2 = tmp_path / "c2"
    imp = json.loads(ok(mp(mpack, "import", "--json", "--cache-dir", c2, out)).stdout)
    assert imp["new"] == rep["blocks"] and imp["bad"] == 0
    for rel, data in MODEL_FILES.items():
        got = subprocess.run([mpack, "cat", "--offline", "--cache-dir", str(c2),
                              f"{pack['manifest']}/{rel}"], capture_output=True, timeout=60,
                             env=clean_env())
        assert got.returncode == 0, got.stderr
        assert got.stdout == data, rel
    ok(mp(mpack, "verify", "--offline", "--cache-dir", c2, pack["manifest"]))


def test_export_directory_tree(mpack, pack, cached, tmp_path):
    out = tmp_path / "tree.car"
    ok(mp(mpack, "export", "--offline", "--cache-dir", cached, pack["tree"], "-o", out))
    doc = car_blocks(mpack, out)
    assert doc["roots"] == [pack["tree"]]
    c2 = tmp_path / "c2"
    imp = json.loads(ok(mp(mpack, "import", "--json", "--cache-dir", c2, out)).stdout)
    assert imp["files"][0]["roots"] == [{"cid": pack["tree"], "kind": "directory"}]
    got = subprocess.run([mpack, "cat", "--offline", "--cache-dir", str(c2),
                          f"{pack['tree']}/docs/deep/notes.txt"], capture_output=True,
                         timeout=60, env=clean_env())
    assert got.stdout == b"notes\n", got.stderr
    ok(mp(mpack, "verify", "--offline", "--cache-dir", c2, pack["tree"]))


def test_export_to_stdout_and_failures(mpack, pack, cached, tmp_path):
    p = subprocess.run([mpack, "export", "--offline", "--cache-dir", str(cached),
                        pack["manifest"], "-o", "-"], capture_output=True, timeout=60,
                       env=clean_env())
    assert p.returncode == 0, p.stderr
    f = tmp_path / "s.car"
    f.write_bytes(p.stdout)
    assert car_blocks(mpack, f)["roots"] == [pack["manifest"]]
    assert b"exported" in p.stderr  # the summary goes to stderr when the CAR is on stdout
    # Missing blocks and nowhere to get them: fails, leaves nothing behind.
    out = tmp_path / "x.car"
    fails(mp(mpack, "export", "--offline", "--cache-dir", tmp_path / "empty", pack["manifest"],
             "-o", out), 1, f"mpack export: {pack['manifest']}:", "not in the cache")
    assert not out.exists() and not (tmp_path / "x.car.tmp").exists()
    fails(mp(mpack, "export", "--offline", "--cache-dir", cached, pack["manifest"], "-o",
             tmp_path / "no" / "dir.car"), 1, "No such file or directory")


# ---- info and ls ----

def test_info_json(mpack, pack, cached):
    doc = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cached,
                           pack["manifest"])).stdout)
    assert doc["cid"] == pack["manifest"] and doc["kind"] == "manifest"
    assert (doc["name"], doc["version"], doc["format"]) == ("model", "2.0", "safetensors")
    assert doc["license"] is None
    by = {f["path"]: f for f in doc["files"]}
    assert set(by) == set(MODEL_FILES)
    for rel, data in MODEL_FILES.items():
        f = by[rel]
        assert f["size"] == len(data)
        assert f["cid"] == pack["files"][rel]["cid"]
        assert f["sha256"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert f["cached_bytes"] == len(data) and f["cached_percent"] == 100
    assert by["model.safetensors"]["role"] == "shard"
    assert by["tokenizer.json"]["role"] == "tokenizer"
    assert by["config.json"]["role"] == "file"
    assert doc["total_bytes"] == sum(map(len, MODEL_FILES.values()))
    assert doc["cached_percent"] == 100


def test_info_text_and_directory(mpack, pack, cached):
    out = ok(mp(mpack, "info", "--offline", "--cache-dir", cached, pack["manifest"])).stdout
    assert f"pack     {pack['manifest']} (manifest)" in out
    assert "name     model" in out and "version  2.0" in out
    assert "100.0%" in out and "sha256:" in out
    doc = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cached,
                           pack["tree"])).stdout)
    assert doc["kind"] == "directory" and doc["name"] is None
    paths = {f["path"] for f in doc["files"]}
    assert paths == set(MODEL_FILES) | {"SHA256SUMS"}
    assert all(f["sha256"] is None and f["role"] == "file" for f in doc["files"])
    # A file CID is a one-file pack.
    one = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cached,
                           pack["files"]["config.json"]["cid"])).stdout)
    assert one["kind"] == "file" and one["files"][0]["size"] == len(MODEL_FILES["config.json"])


def test_info_partial_cache(mpack, pack, tmp_path):
    """Only some blocks are local: cached shares are exact; a file whose root is not local
    shows the manifest's size, 0% and a note; nothing is fetched (offline anyway)."""
    files = pack["files"]
    model = MODEL_FILES["model.safetensors"]
    keep = {pack["manifest"], files["config.json"]["cid"], files["tokenizer.json"]["cid"]}
    part = tmp_path / "part.car"
    car_subset(pack["car"], part, keep)
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, part))
    p = ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cdir, pack["manifest"]))
    by = {f["path"]: f for f in json.loads(p.stdout)["files"]}
    assert by["config.json"]["cached_percent"] == 100
    assert by["tokenizer.json"]["cached_bytes"] == 0  # its root is local, no leaf is
    assert by["tokenizer.json"]["size"] == len(MODEL_FILES["tokenizer.json"])
    shard = by["model.safetensors"]
    assert shard["cached_bytes"] == 0 and shard["cached_percent"] == 0
    assert shard["size"] == len(model)
    assert "model.safetensors: not readable now" in p.stderr
    # The shard's root and three of its leaves.
    leaves = leaf_cids(model)
    car_subset(pack["car"], part, {files["model.safetensors"]["cid"], *leaves[2:5]})
    ok(mp(mpack, "import", "--cache-dir", cdir, part))
    doc = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cdir,
                           pack["manifest"])).stdout)
    by = {f["path"]: f for f in doc["files"]}
    assert by["model.safetensors"]["cached_bytes"] == 3 * CHUNK
    assert abs(by["model.safetensors"]["cached_percent"] - 300.0 * CHUNK / len(model)) < 0.01
    assert doc["cached_bytes"] == 3 * CHUNK + len(MODEL_FILES["config.json"])


def test_info_missing_root(mpack, tmp_path):
    fails(mp(mpack, "info", "--offline", "--cache-dir", tmp_path / "c", CID), 1,
          f"mpack info: {CID}:", "not in the cache")


def ls_json(mpack, cached, path):
    doc = json.loads(ok(mp(mpack, "ls", "--json", "--offline", "--cache-dir", cached,
                           path)).stdout)
    assert doc["path"] == path
    return {e["name"]: e for e in doc["entries"]}


def test_ls_manifest(mpack, pack, cached):
    m = pack["manifest"]
    top = ls_json(mpack, cached, m)
    assert set(top) == {"model.safetensors", "tokenizer.json", "config.json", "docs",
                        "MODEL_PACK.json"}
    assert top["docs"] == {"name": "docs", "type": "dir", "size": None, "cid": None}
    assert top["model.safetensors"]["size"] == len(MODEL_FILES["model.safetensors"])
    assert top["model.safetensors"]["cid"] == pack["files"]["model.safetensors"]["cid"]
    assert top["MODEL_PACK.json"]["cid"] == m
    assert top["MODEL_PACK.json"]["size"] == len(pack["manifest_path"].read_bytes())
    sub = ls_json(mpack, cached, m + "/docs")
    assert set(sub) == {"README.md", "deep"} and sub["deep"]["type"] == "dir"
    assert set(ls_json(mpack, cached, m + "/docs/deep")) == {"notes.txt"}
    one = ls_json(mpack, cached, m + "/docs/README.md")
    assert one["README.md"]["type"] == "file" and one["README.md"]["size"] == 13
    text = ok(mp(mpack, "ls", "--offline", "--cache-dir", cached, m)).stdout.splitlines()
    assert [ln.split()[-1] for ln in text] == sorted(top)
    assert text[[ln.split()[-1] for ln in text].index("docs")].split()[:3] == ["dir", "-", "-"]
    fails(mp(mpack, "ls", "--offline", "--cache-dir", cached, m + "/nope"), 1,
          "'nope' is not in manifest")


def test_ls_directory(mpack, pack, cached):
    t = pack["tree"]
    top = ls_json(mpack, cached, t)
    assert set(top) == {"model.safetensors", "tokenizer.json", "config.json", "docs",
                        "SHA256SUMS"}
    assert top["docs"]["type"] == "dir" and top["docs"]["cid"]
    assert top["config.json"]["size"] == len(MODEL_FILES["config.json"])
    assert top["model.safetensors"]["size"] == len(MODEL_FILES["model.safetensors"])
    assert set(ls_json(mpack, cached, t + "/docs/deep")) == {"notes.txt"}
    assert set(ls_json(mpack, cached, "/ipfs/" + t + "/docs")) == {"README.md", "deep"}
    fails(mp(mpack, "ls", "--offline", "--cache-dir", cached, t + "/docs/zzz"), 1,
          "mpack ls:", "zzz")
    fails(mp(mpack, "ls", "--offline", "--cache-dir", cached, t + "/config.json/x"), 1,
          "is a file")


def test_hamt_directory(mpack, run_node, tmp_path):
    """A HAMT-sharded directory from the reference importer: ls, info, export, verify."""
    car = tmp_path / "hamt.car"
    doc = json.loads(run_node("oracle/trickle.mjs", "sharded", "--out", car, "--files", 200,
                              "--fanout-bits", 4).stdout)
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, car))
    names = {f["name"] for f in doc["files"]}
    assert set(ls_json(mpack, cdir, doc["root"])) == names
    info = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", cdir,
                            doc["root"])).stdout)
    assert {f["path"] for f in info["files"]} == names and info["cached_percent"] == 100
    out = tmp_path / "out.car"
    rep = json.loads(ok(mp(mpack, "export", "--json", "--offline", "--cache-dir", cdir,
                           doc["root"], "-o", out)).stdout)
    assert rep["blocks"] == doc["blocks"]
    orig = {b["cid"] for b in car_blocks(mpack, car)["blocks"]}
    assert {b["cid"] for b in car_blocks(mpack, out)["blocks"]} == orig
    v = json.loads(ok(mp(mpack, "verify", "--json", "--offline", "--cache-dir", cdir,
                         doc["root"])).stdout)
    assert v["ok"] and len(v["files"]) == 200 and v["blocks"] == doc["blocks"]


def test_kubo_profile_roundtrip(mpack, tmp_path):
    """CIDv0 with dag-pb leaves: the walk must read every leaf to know it is one."""
    files = {"w.bin": content(9 * 4096 + 5, 7), "t.json": b"{}\n"}
    pk = make_pack(mpack, tmp_path, "kubo", files, "--profile", "kubo", "--chunk-size", 4096,
                   "--max-links", 3)
    assert pk["manifest"].startswith("Qm")
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, pk["car"]))
    v = json.loads(ok(mp(mpack, "verify", "--json", "--offline", "--cache-dir", cdir,
                         pk["manifest"])).stdout)
    assert v["ok"] and all(f["ok"] and f["expected"] == f["sha256"]
                           for f in v["files"] if f["path"] != "MODEL_PACK.json")
    out = tmp_path / "o.car"
    ok(mp(mpack, "export", "--offline", "--cache-dir", cdir, pk["manifest"], "-o", out))
    c2 = tmp_path / "c2"
    ok(mp(mpack, "import", "--cache-dir", c2, out))
    got = subprocess.run([mpack, "cat", "--offline", "--cache-dir", str(c2),
                          pk["manifest"] + "/w.bin"], capture_output=True, timeout=60,
                         env=clean_env())
    assert got.stdout == files["w.bin"], got.stderr
    info = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--cache-dir", c2,
                            pk["manifest"])).stdout)
    assert info["cached_percent"] == 100


# ---- verify ----

def test_verify_ok(mpack, pack, cached):
    p = ok(mp(mpack, "verify", "--offline", "--cache-dir", cached, pack["manifest"]))
    assert p.stdout.count("\nok   ") + p.stdout.startswith("ok   ") == len(MODEL_FILES) + 1
    assert f"{len(MODEL_FILES) + 1} files ({len(MODEL_FILES)} sha256 checked)" in p.stdout
    assert p.stdout.rstrip().endswith(": ok")
    doc = json.loads(ok(mp(mpack, "verify", "--json", "--offline", "--cache-dir", cached,
                           pack["tree"])).stdout)
    assert doc["ok"] and doc["kind"] == "directory" and doc["sha256sums"]
    assert doc["bad_blocks"] == []
    by = {f["path"]: f for f in doc["files"]}
    for rel, data in MODEL_FILES.items():
        assert by[rel]["sha256"] == by[rel]["expected"] == \
            "sha256:" + hashlib.sha256(data).hexdigest()
        assert by[rel]["size"] == len(data) and by[rel]["ok"]


def test_verify_catches_cache_corruption_and_scrub_repairs(mpack, pack, tmp_path):
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    leaf = MODEL_FILES["model.safetensors"][5 * CHUNK:6 * CHUNK]
    corrupt_cache_block(cdir, leaf)
    bad = raw_cid(leaf)
    p = fails(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["manifest"]), 1,
              f"block {bad} in model.safetensors: cached copy is corrupt",
              "mpack cache scrub", "model.safetensors: incomplete")
    assert "BAD  model.safetensors" in p.stdout and "1 bad files, 1 bad blocks" in p.stdout
    doc = json.loads(fails(mp(mpack, "verify", "--json", "--offline", "--cache-dir", cdir,
                              pack["manifest"]), 1).stdout)
    assert not doc["ok"] and [b["cid"] for b in doc["bad_blocks"]] == [bad]
    assert doc["bad_blocks"][0]["file"] == "model.safetensors"
    assert [f["path"] for f in doc["files"] if not f["ok"]] == ["model.safetensors"]
    # The same block seen through the directory pack.
    fails(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["tree"]), 1, bad)
    # scrub removes it (exit 0: repaired) and says which.
    s = json.loads(ok(mp(mpack, "cache", "scrub", "--json", "--cache-dir", cdir)).stdout)
    assert s["removed"] == 1 and [b["cid"] for b in s["bad"]] == [bad]
    assert s["checked"] == pack["doc"]["blocks"]
    assert "hash mismatch" in s["bad"][0]["error"]
    # Now it is missing offline, and comes back from a CAR source.
    fails(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["manifest"]), 1, bad,
          "not in the cache")
    ok(mp(mpack, "verify", "--offline", "--car", pack["car"], "--cache-dir", cdir,
          pack["manifest"]))
    imp = json.loads(ok(mp(mpack, "import", "--json", "--cache-dir", cdir,
                           pack["car"])).stdout)
    assert imp["new"] == 1
    ok(mp(mpack, "verify", "--offline", "--cache-dir", cdir, pack["manifest"]))
    again = ok(mp(mpack, "cache", "scrub", "--cache-dir", cdir)).stdout
    assert f"checked {pack['doc']['blocks']} blocks, removed 0 bad" in again


def test_verify_manifest_mismatches(mpack, pack, tmp_path):
    """A manifest whose sha256 and size disagree with the content it names."""
    m = json.loads(pack["manifest_path"].read_text())
    m["files"][0]["sha256"] = "sha256:" + "0" * 64
    m["tokenizer"]["size"] = 5
    bent = make_pack(mpack, tmp_path, "bent", {"m.json": json.dumps(m).encode()})
    mcid = bent["files"]["m.json"]["cid"]
    p = mp(mpack, "verify", "--json", "--offline", "--no-cache", "--car", pack["car"], "--car",
           bent["car"], mcid)
    doc = json.loads(fails(p, 1).stdout)
    by = {f["path"]: f for f in doc["files"]}
    name = m["files"][0]["filename"]
    assert not by[name]["ok"] and "sha256 mismatch" in by[name]["error"]
    assert by[name]["expected"] == "sha256:" + "0" * 64
    assert not by["tokenizer.json"]["ok"]
    assert "size mismatch: manifest says 5" in by["tokenizer.json"]["error"]
    assert by["model.safetensors"]["ok"] and doc["bad_blocks"] == []
    p = fails(mp(mpack, "verify", "--offline", "--no-cache", "--car", pack["car"], "--car",
                 bent["car"], mcid), 1, f"mpack verify: {name}: sha256 mismatch")
    assert "2 bad files, 0 bad blocks" in p.stdout


def test_verify_sha256sums(mpack, tmp_path):
    """A directory pack checked against the SHA256SUMS at its top."""
    a, b = b"alpha\n", b"beta\n"
    sums = (f"{hashlib.sha256(a).hexdigest()}  a.txt\n"
            f"{'1' * 64}  b.txt\n"
            f"{hashlib.sha256(b'gone').hexdigest()} *c.txt\n"
            "not a checksum line\n")
    pk = make_pack(mpack, tmp_path, "sums", {"inner/a.txt": a, "inner/b.txt": b,
                                             "inner/SHA256SUMS": sums.encode()})
    p = mp(mpack, "verify", "--json", "--offline", "--no-cache", "--car", pk["car"],
           pk["tree"] + "/inner")
    doc = json.loads(fails(p, 1, "1 lines are not 'SHA256  PATH'").stdout)
    assert doc["sha256sums"]
    by = {f["path"]: f for f in doc["files"]}
    assert by["a.txt"]["ok"] and by["a.txt"]["expected"] == by["a.txt"]["sha256"]
    assert not by["b.txt"]["ok"] and "sha256 mismatch" in by["b.txt"]["error"]
    assert not by["c.txt"]["ok"] and "listed in SHA256SUMS" in by["c.txt"]["error"]
    assert by["SHA256SUMS"]["ok"] and by["SHA256SUMS"]["expected"] is None
    # The top of the same tree has mpack's own SHA256SUMS: all good there.
    ok(mp(mpack, "verify", "--offline", "--no-cache", "--car", pk["car"], pk["tree"]))


def test_verify_missing_blocks(mpack, pack, tmp_path):
    files = pack["files"]
    part = tmp_path / "part.car"
    car_subset(pack["car"], part, {pack["manifest"], files["config.json"]["cid"],
                                   files["model.safetensors"]["cid"]})
    cdir = tmp_path / "c"
    ok(mp(mpack, "import", "--cache-dir", cdir, part))
    p = fails(mp(mpack, "verify", "--json", "--offline", "--cache-dir", cdir,
                 pack["manifest"]), 1)
    doc = json.loads(p.stdout)
    assert not doc["ok"]
    bad_files = {f["path"] for f in doc["files"] if not f["ok"]}
    assert bad_files == set(MODEL_FILES) - {"config.json"}
    assert all("not in the cache" in b["error"] for b in doc["bad_blocks"])
    bad = {b["cid"] for b in doc["bad_blocks"]}
    assert set(leaf_cids(MODEL_FILES["model.safetensors"])) <= bad
    assert files["tokenizer.json"]["cid"] in bad


# ---- cache ----

def test_cache_stats_gc_clear(mpack, pack, tmp_path):
    cdir = tmp_path / "c"
    empty = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert (empty["blocks"], empty["bytes"], empty["pinned_blocks"]) == (0, 0, 0)
    assert empty["packs"] == [] and empty["pinned_roots"] == [] and empty["dir"] == str(cdir)
    ok(mp(mpack, "import", "--cache-dir", cdir, pack["car"]))
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir,
                          "--cache-size", "64M")).stdout)
    assert st["blocks"] == pack["doc"]["blocks"] and st["bytes"] == pack["doc"]["bytes"]
    assert st["max_bytes"] == 64 << 20 and st["file_bytes"] >= st["bytes"]
    text = ok(mp(mpack, "cache", "stats", "--cache-dir", cdir)).stdout
    assert f"blocks   {st['blocks']}" in text and pack["manifest"] in text
    # gc to the limit: nothing to do; to a target: evicts down to it.
    g = json.loads(ok(mp(mpack, "cache", "gc", "--json", "--cache-dir", cdir)).stdout)
    assert g["evicted"] == 0 and g["bytes"] == st["bytes"]
    g = json.loads(ok(mp(mpack, "cache", "gc", "--json", "--target", "200K", "--cache-dir",
                         cdir)).stdout)
    assert g["evicted"] > 0 and g["bytes"] <= 200 << 10 and g["target"] == 200 << 10
    assert "evicted 0 blocks" in ok(mp(mpack, "cache", "gc", "--target", "200K",
                                       "--cache-dir", cdir)).stdout
    # clear
    assert ok(mp(mpack, "cache", "clear", "--yes", "--cache-dir", cdir)).stdout == \
        f"cleared {cdir}\n"
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", "--cache-dir", cdir)).stdout)
    assert st["blocks"] == 0 and st["packs"] == []


def test_cache_env_dir(mpack, pack, tmp_path):
    env = clean_env()
    env["MPACKFS_CACHE_DIR"] = str(tmp_path / "envc")
    ok(mp(mpack, "import", pack["car"], env=env))
    st = json.loads(ok(mp(mpack, "cache", "stats", "--json", env=env)).stdout)
    assert st["dir"] == str(tmp_path / "envc") and st["blocks"] == pack["doc"]["blocks"]


def test_unpin_not_pinned(mpack, tmp_path):
    fails(mp(mpack, "unpin", "--cache-dir", tmp_path / "c", CID), 1,
          f"mpack unpin: {CID}: not pinned")


# ---- init-template ----

def test_init_template(mpack, tmp_path):
    out = tmp_path / "MODEL_PACK.json"
    assert ok(mp(mpack, "init-template", "--out", out)).stdout == f"wrote {out}\n"
    doc = json.loads(out.read_text())
    assert doc["modelpack"] == 1 and "_comment" in doc
    assert len(doc["shards"]) == 2 and doc["tokenizer"]["filename"] == "tokenizer.json"
    for e in doc["shards"] + doc["files"] + [doc["tokenizer"]]:
        assert e["cid"] == CID and e["size"] == 0
        assert e.get("sha256", "sha256:" + hashlib.sha256(b"").hexdigest()) == \
            "sha256:" + hashlib.sha256(b"").hexdigest()
    assert ok(mp(mpack, "init-template", "-o", "-")).stdout == out.read_text()
    before = out.read_text()
    out.write_text("mine\n")
    fails(mp(mpack, "init-template", "--out", out), 1, "exists (--force replaces it)")
    assert out.read_text() == "mine\n"
    ok(mp(mpack, "init-template", "--out", out, "--force"))
    assert out.read_text() == before
    assert not (tmp_path / "MODEL_PACK.json.tmp").exists()
    c = ok(mp(mpack, "init-template", "--check", out)).stdout
    assert c.startswith("ok: 2 shards, 1 tokenizer, 1 other files; name my-model")
    assert "placeholder" in c
    fails(mp(mpack, "init-template", "--out", tmp_path / "no" / "x.json"), 1,
          "No such file or directory")


def test_init_template_parses_as_a_pack(mpack, tmp_path):
    """The template, stored as a file, is read by the real manifest path of `mpack info`."""
    d = tmp_path / "t"
    d.mkdir()
    ok(mp(mpack, "init-template", "--out", d / "template.json"))
    pk = make_pack(mpack, tmp_path, "t", {})
    cid = pk["files"]["template.json"]["cid"]
    doc = json.loads(ok(mp(mpack, "info", "--json", "--offline", "--no-cache", "--car",
                           pk["car"], cid)).stdout)
    assert doc["kind"] == "manifest" and doc["name"] == "my-model"
    assert [f["path"] for f in doc["files"]] == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        "tokenizer.json", "config.json"]


BROKEN = [
    ('{"shards": [{"filename": "../x", "cid": "%s"}]}' % CID, "shards[0].filename"),
    ('{"shards": [{"filename": "x", "cid": "bafy!"}]}', "shards[0].cid"),
    ('{"modelpack": 2, "shards": []}', "modelpack: version 2 is not supported"),
    ('{"shards": [', "invalid JSON"),
    ('{"files": []}', "shards"),
]


@pytest.mark.parametrize("text,fragment", BROKEN, ids=[f for _, f in BROKEN])
def test_init_template_check_errors(mpack, tmp_path, text, fragment):
    f = tmp_path / "m.json"
    f.write_text(text)
    fails(mp(mpack, "init-template", "--check", f), 1, f"mpack init-template: {f}: ", fragment)


def test_init_template_check_stdin_and_missing(mpack, pack, tmp_path):
    p = ok(mp(mpack, "init-template", "--check", "-", input=pack["manifest_path"].read_text()))
    assert p.stdout.startswith("ok: 1 shards, 1 tokenizer, 3 other files; name model")
    fails(mp(mpack, "init-template", "--check", tmp_path / "none.json"), 1, "No such file")
