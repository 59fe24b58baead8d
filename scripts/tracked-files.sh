#!/usr/bin/env bash
# Fails when a tracked file is a compiled binary (ELF) or larger than
# MAX_BYTES. Build outputs such as `go test -c` binaries are several
# megabytes each and bloat every clone for good once committed; .gitignore
# keeps the usual names out, and this check catches the rest.
set -euo pipefail
MAX_BYTES=${MAX_BYTES:-1048576}
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "tracked-files: not a git work tree, nothing to check"
	exit 0
fi
bad=0
while IFS= read -r -d '' f; do
	[[ -f $f ]] || continue
	size=$(wc -c <"$f")
	if ((size > MAX_BYTES)); then
		echo "tracked file $f is $size bytes, over the $MAX_BYTES-byte cap"
		bad=1
	fi
	if [[ $(head -c 4 "$f" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
		echo "tracked file $f is an ELF binary; build outputs stay out of git"
		bad=1
	fi
done < <(git ls-files -z)
exit $bad
