"""`mpack car ls` against CARs written by @ipld/car (the JS reference implementation).

The oracle scripts live in tests/oracle: car_write.mjs writes a CARv1 with CarWriter and prints
the CIDs it wrote; car_read.mjs reads a CAR with CarBlockIterator and re-hashes every block.
"""
import json
import struct
import subprocess

import pytest

SEED_COUNTS = [(1, 8), (42, 3), (7, 0)]


def ls(mpack, path, *opts):
    return subprocess.run([mpack, "car", "ls", *opts, str(path)], capture_output=True,
                          text=True, timeout=120)


def ls_json(mpack, path):
    proc = ls(mpack, path, "--json")
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"mpack car ls --json printed invalid JSON (rc {proc.returncode}):\n"
                    f"{proc.stdout[:2000]}\nstderr:\n{proc.stderr}")
    return proc, doc


def js_car(run_node, tmp_path, seed, count, name="js.car"):
    path = tmp_path / name
    proc = run_node("oracle/car_write.mjs", path, seed, count)
    return path, json.loads(proc.stdout)


def wrap_v2(v1, pad=0, index=b"\x01\x02\x03\x04"):
    """A CARv2 around v1 bytes: pragma, fixed header, padding, data, then a junk 'index'."""
    pragma = b"\x0a\xa1\x67version\x02"
    data_offset = len(pragma) + 40 + pad
    header = bytes(16) + struct.pack("<QQQ", data_offset, len(v1), data_offset + len(v1))
    return pragma + header + bytes(pad) + v1 + index


def expected_blocks(written):
    return [{"cid": b["cid"], "size": b["size"], "ok": True} for b in written["blocks"]]


@pytest.mark.parametrize("seed,count", SEED_COUNTS)
def test_ls_json_matches_js_writer(mpack, run_node, tmp_path, seed, count):
    path, written = js_car(run_node, tmp_path, seed, count)
    proc, doc = ls_json(mpack, path)
    assert proc.returncode == 0, proc.stderr
    assert doc["version"] == 1
    assert doc["roots"] == written["roots"]
    assert doc["blocks"] == expected_blocks(written)
    assert doc["bad"] == 0
    assert "error" not in doc
    assert proc.stderr == ""


def test_ls_text_matches_js_writer(mpack, run_node, tmp_path):
    path, written = js_car(run_node, tmp_path, 5, 6)
    proc = ls(mpack, path)
    assert proc.returncode == 0, proc.stderr
    want = [f"root {r}" for r in written["roots"]]
    want += [f"{b['cid']} {b['size']} ok" for b in written["blocks"]]
    assert proc.stdout.splitlines() == want


def test_ls_reads_stdin(mpack, run_node, tmp_path):
    path, written = js_car(run_node, tmp_path, 9, 4)
    with open(path, "rb") as f:
        proc = subprocess.run([mpack, "car", "ls", "--json", "-"], stdin=f,
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["blocks"] == expected_blocks(written)


@pytest.mark.parametrize("pad", [0, 13])
def test_v2_wrapper(mpack, run_node, tmp_path, pad):
    """@ipld/car 5 only writes CARv1, so the v2 wrapper is built here; both readers agree."""
    v1path, written = js_car(run_node, tmp_path, 3, 7)
    v2path = tmp_path / "v2.car"
    v2path.write_bytes(wrap_v2(v1path.read_bytes(), pad))
    proc, doc = ls_json(mpack, v2path)
    assert proc.returncode == 0, proc.stderr
    assert doc["version"] == 2
    assert doc["roots"] == written["roots"]
    assert doc["blocks"] == expected_blocks(written)
    js = json.loads(run_node("oracle/car_read.mjs", v2path).stdout)
    assert js["version"] == 2
    assert (js["roots"], js["blocks"]) == (doc["roots"], doc["blocks"])


def test_v2_data_size_cut(mpack, run_node, tmp_path):
    """A data size ending inside a section is a truncation, even with bytes after it."""
    v1path, _ = js_car(run_node, tmp_path, 3, 4)
    v1 = v1path.read_bytes()
    blob = bytearray(wrap_v2(v1, 0, index=b"\xee" * 64))
    struct.pack_into("<Q", blob, 11 + 24, len(v1) - 5)
    path = tmp_path / "cut.car"
    path.write_bytes(bytes(blob))
    proc = ls(mpack, path)
    assert proc.returncode == 1
    assert "truncated" in proc.stderr


def test_corrupt_block_is_bad(mpack, run_node, tmp_path):
    path, written = js_car(run_node, tmp_path, 11, 6)
    data = bytearray(path.read_bytes())
    victim = next(i for i, b in enumerate(written["blocks"]) if b["size"] > 100)
    data[written["blocks"][victim]["offset"] + 50] ^= 0x01
    path.write_bytes(bytes(data))

    proc, doc = ls_json(mpack, path)
    assert proc.returncode == 1
    assert doc["bad"] == 1
    oks = [b["ok"] for b in doc["blocks"]]
    assert oks == [i != victim for i in range(len(written["blocks"]))]
    assert f"mpack car: {path}: " in proc.stderr
    assert "1 of" in proc.stderr and "failed verification" in proc.stderr

    text = ls(mpack, path)
    assert text.returncode == 1
    line = text.stdout.splitlines()[len(written["roots"]) + victim]
    assert line == f"{written['blocks'][victim]['cid']} {written['blocks'][victim]['size']} BAD"

    js = run_node("oracle/car_read.mjs", path, check=False)
    assert js.returncode == 1
    assert [b["ok"] for b in json.loads(js.stdout)["blocks"]] == oks


def test_truncated_file(mpack, run_node, tmp_path):
    path, written = js_car(run_node, tmp_path, 21, 5)
    data = path.read_bytes()
    last = written["blocks"][-1]
    # cuts inside: the header, a section length varint, a CID, a block, the last block
    big = next(b for b in written["blocks"] if b["size"] > 1000)
    cuts = [10, written["blocks"][0]["offset"] - 30, written["blocks"][0]["offset"] - 3,
            big["offset"] - 36 - 2, big["offset"] + 500, len(data) - 1]
    for cut in cuts:
        cutpath = tmp_path / f"cut{cut}.car"
        cutpath.write_bytes(data[:cut])
        proc, doc = ls_json(mpack, cutpath) if cut > 10 else (ls(mpack, cutpath), None)
        assert proc.returncode == 1, f"cut at {cut}: {proc.stderr}"
        assert "truncated" in proc.stderr, f"cut at {cut}: {proc.stderr}"
        assert f"mpack car: {cutpath}: " in proc.stderr
        if doc is not None:
            assert "truncated" in doc["error"]
            assert all(b["ok"] for b in doc["blocks"])
    # a cut exactly at a section boundary is a valid, shorter CAR
    boundary = last["offset"] + last["size"]
    assert boundary == len(data)
    cutpath = tmp_path / "boundary.car"
    prev = written["blocks"][-2]
    cutpath.write_bytes(data[:prev["offset"] + prev["size"]])
    proc, doc = ls_json(mpack, cutpath)
    assert proc.returncode == 0, proc.stderr
    assert doc["blocks"] == expected_blocks(written)[:-1]


def test_oversized_section(mpack, run_node, tmp_path):
    path, written = js_car(run_node, tmp_path, 2, 0)
    data = path.read_bytes()
    header_end = written["blocks"][0]["offset"] - 1 - 36  # 1-byte length, 36-byte CIDv1
    assert data[header_end] == 36 + written["blocks"][0]["size"]
    big = 3 * 1024 * 1024
    varint = bytearray()
    while True:
        varint.append((big & 0x7F) | (0x80 if big > 0x7F else 0))
        big >>= 7
        if not big:
            break
    bad = tmp_path / "big.car"
    bad.write_bytes(data[:header_end] + bytes(varint) + b"\x00" * 100)
    proc = ls(mpack, bad)
    assert proc.returncode == 1
    assert "exceeds the 2 MiB block limit" in proc.stderr


def test_car_read_oracle(run_node, tmp_path):
    """car_read.mjs (used by other tests to check our writer) agrees with car_write.mjs."""
    path, written = js_car(run_node, tmp_path, 17, 6)
    doc = json.loads(run_node("oracle/car_read.mjs", path).stdout)
    assert doc["version"] == 1
    assert doc["roots"] == written["roots"]
    assert doc["blocks"] == expected_blocks(written)
    assert doc["bad"] == 0
    broken = tmp_path / "broken.car"
    broken.write_bytes(path.read_bytes()[:5])
    proc = run_node("oracle/car_read.mjs", broken, check=False)
    assert proc.returncode == 2 and "car_read:" in proc.stderr


def test_hello_vector_both_readers(mpack, run_node, tmp_path):
    """The 108-byte "hello world\\n" CAR from ipfs-formats.md."""
    cid = bytes.fromhex("01551220a948904f2f0f479b8f8197694b30184b"
                        "0d2ed1c1cd2a1ec0fb85d299a192a447")
    car = (b"\x3a\xa2\x65roots\x81\xd8\x2a\x58\x25\x00" + cid + b"\x67version\x01"
           + b"\x30" + cid + b"hello world\n")
    assert len(car) == 108
    path = tmp_path / "hello.car"
    path.write_bytes(car)
    text = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    proc = ls(mpack, path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"root {text}\n{text} 12 ok\n"
    js = json.loads(run_node("oracle/car_read.mjs", path).stdout)
    assert js["roots"] == [text] and js["blocks"] == [{"cid": text, "size": 12, "ok": True}]


@pytest.mark.parametrize("args,status", [
    ([], 2),
    (["ls"], 2),
    (["frob"], 2),
    (["ls", "--bogus", "x.car"], 2),
    (["ls", "a.car", "b.car"], 2),
    (["--help"], 0),
    (["ls", "--help"], 0),
    (["ls", "/nonexistent/x.car"], 1),
])
def test_usage(mpack, args, status):
    proc = subprocess.run([mpack, "car", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == status, proc.stderr
    if status == 0:
        assert "usage: mpack car ls" in proc.stdout
    else:
        assert proc.stderr.startswith("mpack car")


def test_not_a_car(mpack, tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\x05hello, this is not a CAR")
    proc = ls(mpack, path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"mpack car: {path}: car: header")
    assert proc.stdout == ""
