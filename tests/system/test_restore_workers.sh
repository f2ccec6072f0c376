#!/bin/bash
# test_restore_workers.sh - the parallel restore writes exactly what the sequential one
# does: a hostile tree restored with no worker threads and with eight is identical to the
# source (and so to each other), hard links, sparse files and directory metadata included.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src

say "a hostile tree, backed up once"
"$PY" "$LIB/mkhostile.py" "$S" --small
mkrepo "$R"
run -r "$R" backup "$S"
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "backup: exit status $rc"

for w in 0 1 8; do
	say "restore with --workers $w"
	run -r "$R" restore latest --target "$TMP/r$w" --workers "$w"
	expect_rc 0 "restore --workers $w"
	treecmp "$S" "$TMP/r$w$S" --ignore-sockets
done
say "ok"
