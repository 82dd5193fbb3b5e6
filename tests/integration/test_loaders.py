"""Real loaders on the mount: llama.cpp (node-llama-cpp) loads a generated tiny llama GGUF,
single-file and split in 3 shards, with and without mmap, and must generate the same tokens
as from local disk; PyTorch reads every tensor of a sharded safetensors model through
MAP_SHARED/MAP_PRIVATE mmaps and Storage.from_file, equal to the originals."""
import json
import pathlib
import subprocess

import pytest

from mountlib import TESTS, gateways, mounts, pack, tree_files  # noqa: F401
import gen_gguf
import gen_safetensors

LLAMA = "oracle/llama_run.mjs"
TORCH_CHECK = str(TESTS / "gen" / "torch_check.py")


def llama_tokens(model_path, mmap):
    p = subprocess.run(["node", LLAMA, str(model_path), "--mmap", "true" if mmap else "false",
                        "--tokens", "8"], cwd=TESTS, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, \
        f"llama_run {model_path} (mmap={mmap}) exited {p.returncode}:\n{p.stderr}"
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out["tokens"]) == 8, out
    return out["tokens"]


@pytest.fixture(scope="module")
def gguf(tmp_path_factory):
    """{'single': pack, 'split': pack}, each with 'first' (the file to load) and 'ref'
    (tokens generated from local disk)."""
    base = tmp_path_factory.mktemp("gguf")
    out = {}
    for kind, split in (("single", 1), ("split", 3)):
        src = base / f"tiny-{kind}"
        files = gen_gguf.write_model(src, name="tiny", split=split, seed=1)
        res = pack(src, base / "out")
        res["first"] = files[0]
        res["files"] = tree_files(src)
        ref = llama_tokens(src / files[0], mmap=True)
        assert llama_tokens(src / files[0], mmap=False) == ref, "local mmap/no-mmap disagree"
        assert len(set(ref)) > 1, f"degenerate reference output {ref}"
        res["ref"] = ref
        out[kind] = res
    assert len(out["split"]["files"]) == 4  # 3 shards + SHA256SUMS
    assert out["single"]["ref"] == out["split"]["ref"], "the split model is not the same model"
    m = json.loads(out["split"]["manifest_bytes"])
    assert [s["filename"] for s in m["shards"]] == \
        [f"tiny-0000{i}-of-00003.gguf" for i in (1, 2, 3)], m["shards"]
    assert m.get("format") == "gguf", m.get("format")
    return out


@pytest.mark.parametrize("kind", ["single", "split"])
def test_llama_from_car_mount(gguf, mounts, tmp_path, kind):
    g = gguf[kind]
    m = mounts(["--offline", "--car", g["car"], "--cache-dir", tmp_path / "cache"])
    path = m.path(g["manifest_cid"], g["first"])
    for mmap in (True, False):
        assert llama_tokens(path, mmap) == g["ref"], f"{kind} mmap={mmap} from the mount"
    assert m.unmount() == 0


@pytest.mark.parametrize("kind,mmap", [("single", True), ("split", False)])
def test_llama_through_gateway_cold(gguf, mounts, gateways, tmp_path, kind, mmap):
    g = gguf[kind]
    gw = gateways(g["car"])
    m = mounts(["--gateway", gw.url, "--cache-dir", tmp_path / "cache", "--timeout", "10"])
    assert llama_tokens(m.path(g["manifest_cid"], g["first"]), mmap) == g["ref"]
    st = m.stats()
    assert st["store"]["fetched"] > 0 and st["store"]["verify_failures"] == 0, st["store"]
    assert gw.stats()["requests"] >= len([f for f in g["files"] if f.endswith(".gguf")])
    assert m.unmount() == 0


def test_llama_from_directory_cid_view(gguf, mounts, tmp_path):
    g = gguf["split"]
    m = mounts(["--offline", "--car", g["car"], "--cache-dir", tmp_path / "cache"])
    assert llama_tokens(m.path(g["directory_cid"], g["first"]), True) == g["ref"]
    assert m.unmount() == 0


@pytest.fixture(scope="module")
def safetensors_model(tmp_path_factory):
    base = tmp_path_factory.mktemp("st")
    src = base / "stmodel"
    gen_safetensors.write_model(src, shards=3)
    res = pack(src, base / "out", "--chunk-size", "262144")
    res["src"] = src
    m = json.loads(res["manifest_bytes"])
    assert len(m["shards"]) == 3 and m.get("format") == "safetensors", m
    assert m.get("config") == gen_safetensors.CONFIG
    return res


def torch_check(model_dir, orig_dir):
    return subprocess.Popen(["/usr/bin/python3", TORCH_CHECK, str(model_dir), str(orig_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def torch_result(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"torch_check exited {proc.returncode}:\n{out}\n{err}"
    res = json.loads(out.strip().splitlines()[-1])
    n = len(gen_safetensors.tensors())
    assert res["tensors"] == n and res["mismatches"] == [], res
    return res


def test_torch_safetensors_through_gateway_cold(safetensors_model, mounts, gateways, tmp_path):
    s = safetensors_model
    gw = gateways(s["car"])
    m = mounts(["--gateway", gw.url, "--cache-dir", tmp_path / "cache", "--timeout", "10"])
    root = pathlib.Path(m.path(s["manifest_cid"]))
    # two processes mapping the same shards at once, from a cold cache
    procs = [torch_check(root, s["src"]) for _ in range(2)]
    for p in procs:
        torch_result(p)
    for name in ("model.safetensors.index.json", "config.json"):
        assert json.loads((root / name).read_text()) == \
            json.loads((s["src"] / name).read_text()), name
    st = m.stats()
    assert st["store"]["fetched"] > 0 and st["store"]["verify_failures"] == 0, st["store"]
    assert m.unmount() == 0


def test_torch_safetensors_from_car_both_views(safetensors_model, mounts, tmp_path):
    s = safetensors_model
    m = mounts(["--offline", "--car", s["car"], "--cache-dir", tmp_path / "cache"])
    for cid in (s["manifest_cid"], s["directory_cid"]):
        torch_result(torch_check(m.path(cid), s["src"]))
    assert m.unmount() == 0
