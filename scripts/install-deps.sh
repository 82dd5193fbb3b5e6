#!/bin/sh
# Install what mpackfs needs to build, test and benchmark on Debian 12. Idempotent.
set -eu
PKGS="build-essential pkg-config clang libclang-rt-14-dev llvm
libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libcjson-dev liblmdb-dev lmdb-utils
python3 python3-pytest python3-numpy python3-torch nginx-light mandoc attr util-linux
clang-format curl"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing (run as root)" >&2
		exit 1
	fi
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Test oracles and loaders from npm, pinned by tests/package-lock.json. (npm ci refuses the
# lock because some optional per-platform llama.cpp builds are absent from the registry mirror.)
stamp=tests/node_modules/.mpack-lock
if ! cmp -s tests/package-lock.json "$stamp" 2>/dev/null; then
	(cd tests && npm install --omit=optional --no-audit --no-fund --loglevel=error)
	cp tests/package-lock.json "$stamp"
fi
