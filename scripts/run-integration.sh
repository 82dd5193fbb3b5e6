#!/bin/sh
# Run the integration tests (real FUSE mounts, real HTTP over loopback, real LMDB) with
# Debian's pytest. MPACK_BUILD names the build directory whose binaries are tested.
set -u
export MPACK_BUILD="${MPACK_BUILD:-build}"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
rc=$?
[ $rc -eq 5 ] && { echo "integration: no tests collected" >&2; exit 1; }
exit $rc
