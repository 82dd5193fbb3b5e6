#!/bin/bash
# make demo: generate a sample model, pack it to a CAR, mount it offline from that CAR,
# show ls, sha256sum -c against the manifest, a loader reading a tensor, the stats, unmount.
# Leaves nothing mounted and nothing running, on success or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${MPACK_BUILD:-build}
work=$(mktemp -d /tmp/mpackfs-demo.XXXXXX)
mnt=$work/models
pid=""
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. generate a sample model"
/usr/bin/python3 scripts/make-sample.py "$work/sample" 6
ls -l "$work/sample"

step "2. pack it into a ModelPack and a CAR"
cid=$("$B/mpack" pack "$work/sample" --out "$work/MODEL_PACK.json" --car "$work/sample.car" \
	--name sample --version 1.0 | tee /dev/stderr | tail -n 1)
echo "manifest CID: $cid"
head -c 1200 "$work/MODEL_PACK.json"; echo " …"
"$B/mpack" car ls "$work/sample.car" | head -n 5

step "3. mount it offline from the CAR"
mkdir -p "$mnt"
"$B/mpackfs" -f --offline --car "$work/sample.car" --cache-dir "$work/cache" "$mnt" \
	2> "$work/mpackfs.log" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { cat "$work/mpackfs.log"; exit 1; }

step "4. ls -l $mnt/$cid"
ls -l "$mnt/$cid"

step "5. sha256sum -c against the manifest"
/usr/bin/python3 - "$mnt/$cid/MODEL_PACK.json" > "$work/SUMS" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for e in m.get("shards", []) + ([m["tokenizer"]] if m.get("tokenizer") else []) + m.get("files", []):
    print(e["sha256"].split(":")[1] + "  " + e["filename"])
PY
(cd "$mnt/$cid" && sha256sum -c "$work/SUMS")

step "6. a loader reads a tensor (mmap + torch.frombuffer)"
/usr/bin/python3 scripts/read-tensor.py "$mnt/$cid" model.embed_tokens.weight

step "7. stats"
/usr/bin/python3 -m json.tool "$mnt/.mpackfs/stats"
getfattr -d -m user.mpack "$mnt/$cid/model-00001-of-00002.safetensors" 2>/dev/null || true

step "8. unmount"
fusermount3 -u "$mnt"
wait "$pid"; pid=""
echo "demo finished: mounted, verified and unmounted $cid"
