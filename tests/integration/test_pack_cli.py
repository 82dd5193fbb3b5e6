"""mpack pack as a command: usage errors, failures, SHA256SUMS, --json, output lines,
reproducibility, skipped entries, outputs."""
import json
import os
import re
import subprocess

import pytest

CID_RE = re.compile(r"^(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{58})$")


@pytest.fixture
def run(mpack):
    """run("pack", ...) → CompletedProcess of the mpack binary (SOURCE_DATE_EPOCH unset)."""
    def go(*args, env=None):
        e = dict(os.environ)
        e.pop("SOURCE_DATE_EPOCH", None)
        e.update(env or {})
        return subprocess.run([mpack, *map(str, args)], capture_output=True, text=True, env=e,
                              timeout=120)
    return go


@pytest.fixture
def model(tmp_path):
    d = tmp_path / "tiny-model"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama", "vocab_size": 32}\n')
    (d / "tokenizer.json").write_text('{"model": {"type": "BPE"}}\n')
    (d / "model.safetensors").write_bytes(bytes(range(256)) * 20)
    (d / "weights").mkdir()
    (d / "weights" / "extra.bin").write_bytes(b"\x01\x02\x03" * 1000)
    (d / "README.md").write_text("# tiny\n")
    (d / ".hidden").write_text("not packed\n")
    (d / ".cache").mkdir()
    (d / ".cache" / "blob").write_text("not packed either\n")
    return d


def usage_error(p, what):
    assert p.returncode == 2, f"exit {p.returncode}, stderr {p.stderr!r}"
    assert what in p.stderr, f"{what!r} not in {p.stderr!r}"
    assert p.stdout == ""


def test_usage_errors(run, model):
    usage_error(run("pack"), "missing DIR")
    usage_error(run("pack", str(model), str(model)), "unexpected argument")
    usage_error(run("pack", str(model), "--bogus"), "bogus")
    usage_error(run("pack", str(model), "--cid-version", "0", "--raw-leaves"), "raw-leaves")
    usage_error(run("pack", str(model), "--profile", "kubo", "--raw-leaves"), "raw-leaves")
    usage_error(run("pack", str(model), "--cid-version", "2"), "--cid-version")
    usage_error(run("pack", str(model), "--chunk-size", "0"), "chunk size")
    usage_error(run("pack", str(model), "--chunk-size", "2097153"), "--chunk-size")
    usage_error(run("pack", str(model), "--chunk-size", "12k"), "--chunk-size")
    usage_error(run("pack", str(model), "--max-links", "1"), "max links")
    usage_error(run("pack", str(model), "--profile", "ipfs"), "unknown profile")
    usage_error(run("pack", str(model), "--out"), "out")
    assert not (model / "SHA256SUMS").exists(), "a usage error must not write anything"


def test_help(run):
    p = run("pack", "--help")
    assert p.returncode == 0 and "usage: mpack pack DIR" in p.stdout


def test_failures(run, tmp_path, model):
    p = run("pack", str(tmp_path / "nope"))
    assert p.returncode == 1
    assert p.stderr.startswith(f"mpack pack: {tmp_path / 'nope'}: ")
    assert "No such file" in p.stderr
    p = run("pack", str(model / "README.md"))
    assert p.returncode == 1 and "not a directory" in p.stderr
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    p = run("pack", str(empty))
    assert p.returncode == 1 and "no files to pack" in p.stderr
    p = run("pack", str(model), "--car", "/dev/null")
    assert p.returncode == 1 and "regular file" in p.stderr
    p = run("pack", str(model), "--car", str(tmp_path / "no-such-dir" / "x.car"))
    assert p.returncode == 1 and "x.car" in p.stderr
    assert not (model / "MODEL_PACK.json").exists()


def test_sha256sums_format(run, model):
    p = run("pack", str(model), "--quiet")
    assert p.returncode == 0, p.stderr
    sums = (model / "SHA256SUMS").read_text()
    names = ["README.md", "config.json", "model.safetensors", "tokenizer.json",
             "weights/extra.bin"]
    ref = subprocess.run(["sha256sum", *sorted(names)], cwd=model, capture_output=True,
                         text=True, check=True).stdout
    assert sums == ref
    check = subprocess.run(["sha256sum", "-c", "--strict", "SHA256SUMS"], cwd=model,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_human_output(run, model):
    p = run("pack", str(model))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    added = [ln.split(" ", 2) for ln in lines if ln.startswith("added ")]
    assert sorted(a[2] for a in added) == ["README.md", "SHA256SUMS", "config.json",
                                           "model.safetensors", "tokenizer.json",
                                           "weights/extra.bin"]
    assert all(CID_RE.match(a[1]) for a in added)
    assert lines[-2].startswith("directory ") and CID_RE.match(lines[-2].split()[1])
    assert CID_RE.match(lines[-1]), f"last line is not a CID: {lines[-1]!r}"
    manifest = json.loads((model / "MODEL_PACK.json").read_text())
    assert manifest["provenance"]["directory"] == lines[-2].split()[1]
    q = run("pack", str(model), "--quiet", env={"SOURCE_DATE_EPOCH": "5"})
    assert q.returncode == 0 and len(q.stdout.splitlines()) == 1


def test_json_shape(run, model, tmp_path):
    car = tmp_path / "out.car"
    out = tmp_path / "elsewhere.json"
    p = run("pack", str(model), "--json", "--car", str(car), "--out", str(out),
              "--name", "tiny", "--version", "2024.1")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert set(r) == {"manifest_cid", "directory_cid", "manifest_path", "car_path", "files",
                      "blocks", "bytes"}
    assert CID_RE.match(r["manifest_cid"]) and CID_RE.match(r["directory_cid"])
    assert r["manifest_path"] == str(out) and r["car_path"] == str(car)
    assert out.exists() and car.exists() and not (model / "MODEL_PACK.json").exists()
    assert not os.path.exists(str(car) + ".tmp") and not os.path.exists(str(out) + ".tmp")
    roles = {f["path"]: f["role"] for f in r["files"]}
    assert roles == {"README.md": "file", "SHA256SUMS": "sha256sums", "config.json": "file",
                     "model.safetensors": "shard", "tokenizer.json": "tokenizer",
                     "weights/extra.bin": "shard"}
    for f in r["files"]:
        assert set(f) == {"path", "cid", "sha256", "size", "role"}
        assert re.match(r"^[0-9a-f]{64}$", f["sha256"]) and isinstance(f["size"], int)
    assert [f["path"] for f in r["files"]] == sorted(roles)
    assert r["blocks"] > 0 and r["bytes"] > 0
    m = json.loads(out.read_text())
    assert m["modelpack"] == 1 and m["name"] == "tiny" and m["version"] == "2024.1"
    assert m["format"] == "safetensors"
    assert m["config"] == {"model_type": "llama", "vocab_size": 32}
    assert [s["filename"] for s in m["shards"]] == ["model.safetensors", "weights/extra.bin"]
    assert m["tokenizer"]["filename"] == "tokenizer.json"
    assert [f["filename"] for f in m["files"]] == ["README.md", "config.json"]
    prov = m["provenance"]
    assert prov["chunker"] == "size-1048576" and prov["max_links"] == 1024
    assert prov["cid_version"] == 1 and prov["raw_leaves"] is True
    assert prov["layout"] == "balanced" and prov["tool"].startswith("mpack ")
    p = run("pack", str(model), "--json", "--quiet")
    r = json.loads(p.stdout)
    assert r["car_path"] is None
    assert json.loads((model / "MODEL_PACK.json").read_text())["name"] == "tiny-model"


def test_reproducible(run, model):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    a = run("pack", str(model), "--quiet", env=env)
    text_a = (model / "MODEL_PACK.json").read_text()
    b = run("pack", str(model), "--quiet", env=env)
    assert a.returncode == 0 and b.returncode == 0
    assert a.stdout == b.stdout, "two runs gave different manifest CIDs"
    assert (model / "MODEL_PACK.json").read_text() == text_a
    assert json.loads(text_a)["provenance"]["created"] == "2023-11-14T22:13:20Z"
    c = run("pack", str(model), "--quiet", env={"SOURCE_DATE_EPOCH": "1700000001"})
    assert c.stdout != a.stdout
    bad = run("pack", str(model), env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 1 and "SOURCE_DATE_EPOCH" in bad.stderr


def test_skipped_entries(run, model, tmp_path):
    os.mkfifo(model / "a-fifo")
    os.symlink("README.md", model / "readme-link")
    (model / "MODEL_PACK.json.tmp").write_text("stale\n")
    car = model / "inside.car"
    p = run("pack", str(model), "--json", "--car", str(car))
    assert p.returncode == 0, p.stderr
    assert "a-fifo" in p.stderr and "skipped" in p.stderr
    paths = [f["path"] for f in json.loads(p.stdout)["files"]]
    for skipped in (".hidden", ".cache/blob", "a-fifo", "readme-link", "MODEL_PACK.json",
                    "MODEL_PACK.json.tmp", "inside.car"):
        assert skipped not in paths
    sums = (model / "SHA256SUMS").read_text()
    assert ".hidden" not in sums and "readme-link" not in sums and "inside.car" not in sums
    # a second run sees its own outputs and must not pack them
    q = run("pack", str(model), "--json", "--car", str(car))
    assert json.loads(q.stdout)["directory_cid"] == json.loads(p.stdout)["directory_cid"]


def test_profiles_and_flags(run, tmp_path):
    d = tmp_path / "h"
    d.mkdir()
    (d / "hello.txt").write_text("hello world\n")

    def cid_of(*args):
        p = run("pack", str(d), "--json", *args)
        assert p.returncode == 0, p.stderr
        return {f["path"]: f["cid"] for f in json.loads(p.stdout)["files"]}["hello.txt"]

    v0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    raw = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    pb1 = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
    assert cid_of() == raw
    assert cid_of("--profile", "kubo") == v0
    assert cid_of("--profile", "kubo-v1") == raw
    assert cid_of("--cid-version", "0") == v0
    assert cid_of("--profile", "kubo", "--cid-version", "1") == raw
    assert cid_of("--cid-version", "1", "--no-raw-leaves") == pb1
    assert cid_of("--no-raw-leaves") == pb1
    m = json.loads((d / "MODEL_PACK.json").read_text())
    assert m["provenance"]["raw_leaves"] is False and "format" not in m
