#!/bin/bash
# test_unlinkable.sh - P9: two repositories holding the same data share no object name, and
# every pack has a Padmé length, so a server holding both sees no chunk's size. (That the two
# cut the same data at different places is pinned by tests/unit/test_chunk.c. Whether their
# padded pack sizes differ is chance: the same 5 MB in one pack each lands in the same Padmé
# bucket, and asserting a difference failed in CI once.)
set -euo pipefail
. "$(dirname "$0")/_common.sh"

S=$TMP/src
mkdir -p "$S/d"
head -c 5000000 /dev/urandom >"$S/d/big.bin"
for i in $(seq 40); do printf 'small file %d with some shared text\n' "$i" >"$S/d/s$i.txt"; done
mkrepo "$TMP/r1"
COFFER_HOME=$TMP/home2 run -r "$TMP/r2" init --recovery-key-file "$TMP/r2.rk"
expect_rc 0 "init r2"
run -r "$TMP/r1" backup "$S"
expect_rc 0 "backup r1"
COFFER_HOME=$TMP/home2 run -r "$TMP/r2" backup "$S"
expect_rc 0 "backup r2"

say "no object name in common (chain entries are named by their sequence number only)"
names() { (cd "$1" && find packs index snapshots keys -type f -printf '%f\n' | sort); }
common=$(comm -12 <(names "$TMP/r1") <(names "$TMP/r2") | wc -l)
[ "$common" = 0 ] || fail "$common object names appear in both repositories"

say "pack sizes are padded: no size reveals a chunk"
"$PY" - "$TMP/r1" "$TMP/r2" <<'PY' || fail "a pack size is not a Padme length"
import os, sys
def padme(l):
    e = l.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (l + mask) & ~mask
for repo in sys.argv[1:]:
    for root, _, files in os.walk(os.path.join(repo, "packs")):
        for f in files:
            n = os.path.getsize(os.path.join(root, f))
            if padme(n) != n:
                sys.exit("pack %s: %d is not a Padme length" % (f, n))
PY
say "ok"
