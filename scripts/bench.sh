#!/bin/bash
# make bench: benchmark mpackfs against nginx/curl/rclone/local-disk baselines over loopback
# and write docs/BENCHMARKS.md and docs/benchmarks.json. BENCH_QUICK=1 for a short run, whose
# report goes to $BENCH_DIR/quick/report/ (BENCH_OUT to choose), not over the full one.
# Everything it mounts is unmounted and everything it starts is stopped on exit, even on
# failure (the Python driver cleans up; this trap catches what a killed driver left behind).
set -euo pipefail
cd "$(dirname "$0")/.."
export MPACK_BUILD=${MPACK_BUILD:-build}
BENCH_DIR=${BENCH_DIR:-/var/tmp/mpackfs-bench}
export BENCH_DIR
mode=full
case "${BENCH_QUICK:-0}" in 0|"") ;; *) mode=quick ;; esac
run_dir=$BENCH_DIR/$mode/run

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (drop_caches, FUSE mounts); run as root" >&2
	exit 1
fi
for b in "$MPACK_BUILD/mpack" "$MPACK_BUILD/mpackfs" "$MPACK_BUILD/fusefloor"; do
	[ -x "$b" ] || { echo "bench: $b missing; run 'make all $MPACK_BUILD/fusefloor' first" >&2; exit 1; }
done

# Tools used only by the benchmark: installed here, and nowhere else.
missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v fio >/dev/null || missing+=(fio)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# /tmp may be tmpfs: the data lives under /var/tmp (or BENCH_DIR), checked to be a disk.
mkdir -p "$BENCH_DIR"
if [ "$(stat -f -c %T "$BENCH_DIR")" = tmpfs ]; then
	echo "bench: $BENCH_DIR is on tmpfs; set BENCH_DIR to a directory on disk" >&2
	exit 1
fi

cleanup() {
	local rc=$?
	# Mounts left under the bench directory (FUSE: mpackfs, rclone).
	awk -v d="$BENCH_DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo |
		sort -r | while read -r m; do
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true
		done
	# Processes the driver started ('PID TOKEN' lines in run/pids), if still alive and still
	# the same process (its command line contains TOKEN: a mountpoint or nginx's own dir).
	if [ -s "$run_dir/pids" ]; then
		while read -r pid token; do
			[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || continue
			if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$token"; then
				kill "$pid" 2>/dev/null || true
			fi
			case "$token" in /tmp/mpack-nginx-*) sleep 0.5; rm -rf -- "$token" ;; esac
		done < "$run_dir/pids"
		: > "$run_dir/pids"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

/usr/bin/python3 scripts/bench/run.py
