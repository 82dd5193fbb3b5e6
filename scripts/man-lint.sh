#!/bin/sh
# Lint the hand-written mdoc man pages; any warning fails.
set -e
cd "$(dirname "$0")/.."
for m in man/*.[0-9]; do
	mandoc -Tlint -Wwarning "$m"
done
echo "man-lint: $(ls man/*.[0-9] | wc -l) pages clean"
