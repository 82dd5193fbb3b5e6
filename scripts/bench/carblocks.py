#!/usr/bin/python3
"""carblocks: extract every block of a CARv1 into DIR/<cid>, the layout nginx serves under
/ipfs/ (CIDv1 as base32 lower 'b…'; CIDv0 as base58btc 'Qm…'). Streams the CAR (bounded
memory). Prints {"blocks": N, "bytes": B, "written": W} (W: blocks not already present).
leaves() lists a UnixFS file's leaf CIDs in file order from such a directory.

usage: carblocks.py FILE.car DIR
       carblocks.py --leaves DIR ROOT_CID
"""
import base64
import json
import os
import sys

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MAX_SECTION = 8 << 20


def _varint(fh):
    x = shift = 0
    while True:
        c = fh.read(1)
        if not c:
            return None if shift == 0 else _bad("truncated varint")
        x |= (c[0] & 0x7F) << shift
        shift += 7
        if c[0] < 0x80:
            return x
        if shift > 63:
            _bad("varint too long")


def _varint_buf(b, i):
    x = shift = 0
    while True:
        if i >= len(b):
            _bad("truncated CID")
        x |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if b[i - 1] < 0x80:
            return x, i


def _bad(msg):
    raise ValueError("carblocks: " + msg)


def cid_text(raw):
    """CID bytes → text (v0: base58btc, v1: multibase base32 lower)."""
    if len(raw) == 34 and raw[0] == 0x12 and raw[1] == 0x20:
        n, out = int.from_bytes(raw, "big"), ""
        while n:
            n, r = divmod(n, 58)
            out = B58[r] + out
        return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def cid_len(section):
    """Length of the CID at the start of a section."""
    if section[:2] == b"\x12\x20":
        return 34
    i = 0
    _, i = _varint_buf(section, i)          # version
    _, i = _varint_buf(section, i)          # codec
    _, i = _varint_buf(section, i)          # multihash code
    n, i = _varint_buf(section, i)          # digest length
    return i + n


def extract(car, outdir):
    os.makedirs(outdir, exist_ok=True)
    blocks = total = written = 0
    with open(car, "rb") as fh:
        hlen = _varint(fh)
        if hlen is None or hlen > MAX_SECTION:
            _bad("bad header length")
        fh.seek(hlen, os.SEEK_CUR)
        while True:
            n = _varint(fh)
            if n is None:
                break
            if n > MAX_SECTION:
                _bad("section of %d bytes" % n)
            sec = fh.read(n)
            if len(sec) != n:
                _bad("truncated section")
            k = cid_len(sec)
            path = os.path.join(outdir, cid_text(sec[:k]))
            blocks += 1
            total += n - k
            if os.path.exists(path) and os.path.getsize(path) == n - k:
                continue
            with open(path + ".tmp", "wb") as out:
                out.write(sec[k:])
            os.replace(path + ".tmp", path)
            written += 1
    return {"blocks": blocks, "bytes": total, "written": written}


def _pb_fields(b):
    """(field number, bytes) of every length-delimited field of a protobuf message."""
    i, out = 0, []
    while i < len(b):
        key, i = _varint_buf(b, i)
        if key & 7 == 0:
            _, i = _varint_buf(b, i)
        elif key & 7 == 2:
            n, i = _varint_buf(b, i)
            out.append((key >> 3, b[i:i + n]))
            i += n
        else:
            _bad("dag-pb wire type %d" % (key & 7))
    return out


def leaves(blocks_dir, root):
    """Leaf CIDs (text) of the UnixFS file `root`, in file order: raw blocks and dag-pb nodes
    without links, found by walking its dag-pb nodes in blocks_dir."""
    out, todo = [], [root]
    while todo:
        cid = todo.pop()
        if cid.startswith("bafk"):  # CIDv1 raw: a leaf
            out.append(cid)
            continue
        with open(os.path.join(blocks_dir, cid), "rb") as fh:
            links = [cid_text(f[1]) for n, link in _pb_fields(fh.read()) if n == 2
                     for f in _pb_fields(link) if f[0] == 1]
        if links:
            todo.extend(reversed(links))
        else:
            out.append(cid)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--leaves":
        print("\n".join(leaves(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) == 3:
        print(json.dumps(extract(sys.argv[1], sys.argv[2])))
    else:
        sys.exit(__doc__)
