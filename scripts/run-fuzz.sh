#!/bin/sh
# Run each fuzz target for $1 seconds from its seed corpus; any crash, leak or sanitizer report fails.
set -u
secs=$1; shift
for f in "$@"; do
	name=$(basename "$f")
	seeds=tests/fuzz/corpus/${name#fuzz_}
	work=build-fuzz/corpus/${name#fuzz_}
	mkdir -p "$work"
	[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=0 "$work" > "build-fuzz/$name.log" 2>&1; then
		tail -n 40 "build-fuzz/$name.log"
		echo "fuzz: $name FAILED" >&2
		exit 1
	fi
	grep -E '^(Done|#[0-9]+ *DONE)' "build-fuzz/$name.log" | tail -n1
done
echo "fuzz: all targets clean"
