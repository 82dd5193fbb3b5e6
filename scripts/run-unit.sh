#!/bin/sh
# Run unit test binaries; print a total "N passed, N failed" line; fail if any failed.
passed=0 failed=0 bad=""
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^$' | tail -n 30
	p=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -n1)
	f=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -n1)
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ] || [ -z "$p" ]; then bad="$bad $(basename "$t")"; [ "${f:-0}" -eq 0 ] && failed=$((failed + 1)); fi
done
echo "unit: $passed passed, $failed failed"
[ -z "$bad" ] || { echo "unit: failing:$bad" >&2; exit 1; }
