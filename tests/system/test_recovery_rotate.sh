#!/bin/bash
# test_recovery_rotate.sh - `recovery rotate` replaces the recovery key: the new key restores
# everything on a blank machine, the old one is refused (12) and a snapshot written after the
# rotation cannot be read with anything the old key held (the data epoch rotated too).
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
mkdir -p "$S"
printf 'before\n' >"$S/a"
mkrepo "$R"
run -r "$R" backup "$S"
expect_rc 0 "backup"

say "rotate the recovery key into a new file"
run -r "$R" recovery rotate --out "$TMP/new.rk"
expect_rc 0 "recovery rotate"
[ "$(stat -c %a "$TMP/new.rk")" = 600 ] || fail "the new key file is not mode 600"
run -r "$R" recovery rotate --out "$TMP/new.rk"
[ "$rc" != 0 ] || fail "rotate overwrote an existing key file"
printf 'after\n' >"$S/b"
run -r "$R" backup "$S"
expect_rc 0 "backup after the rotation"

say "the old recovery key is refused on a blank machine"
COFFER_HOME=$TMP/blank1 run -r "$R" --recovery-key-file "$R.rk" snapshots
expect_rc 12 "old recovery key"

say "the new one restores everything"
COFFER_HOME=$TMP/blank2 run -r "$R" --recovery-key-file "$TMP/new.rk" restore latest --target "$TMP/r"
expect_rc 0 "restore with the new recovery key"
treecmp "$S" "$TMP/r$S"
run -r "$R" devices list
expect_rc 0 "devices list"
run -r "$R" check --read-data
expect_rc 0 "check after the rotation"
say "ok"
