#!/bin/bash
# test_keys.sh - who can open a repository: another device is refused (exit 12); the recovery
# key alone, on a blank home, lists and restores everything (P8), in any spelling the format
# allows; a wrong recovery key is refused (12), a mistyped one is an error, not a success; a
# missing repository is exit 10; init never overwrites a repository; a passphrase-protected
# device key is encrypted on disk and opens only with the right passphrase (wrong: 12).
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
HOME_A=$COFFER_HOME

say "a repository with one snapshot"
"$PY" "$LIB/mkhostile.py" "$S" --seed 21 --small
mkrepo "$R"
run -r "$R" backup "$S"
expect_rc 0 "backup"
[ "$(stat -c %a "$HOME_A")" = 700 ] || fail "COFFER_HOME mode $(stat -c %a "$HOME_A"), want 700"
[ "$(stat -c %a "$HOME_A/device.key")" = 600 ] || fail "device.key mode, want 600"
[ "$(stat -c %a "$R.rk")" = 600 ] || fail "recovery key file mode, want 600"

say "another device (its own identity, not a member) is refused with exit 12"
export COFFER_HOME=$TMP/homeB
mkrepo "$TMP/repoB"
for cmd in snapshots "ls latest" "restore latest --target $TMP/tB" check "backup $S"; do
	# shellcheck disable=SC2086
	run -r "$R" $cmd
	expect_rc 12 "other device: $cmd"
	one_line_error "other device: $cmd"
done
[ ! -e "$TMP/tB$S" ] || fail "a refused restore wrote files"

say "a home with no identity at all is refused too (exit 12)"
export COFFER_HOME=$TMP/blank
run -r "$R" snapshots
expect_rc 12 "blank home"

say "the recovery key alone, on a blank home, lists and restores an identical tree"
export COFFER_HOME=$TMP/blank2
run -r "$R" --recovery-key-file "$R.rk" --json snapshots
expect_rc 0 "snapshots with the recovery key"
"$PY" -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 1' "$TMP/out" ||
	fail "recovery key: want 1 snapshot"
run -r "$R" --recovery-key-file "$R.rk" restore latest --target "$TMP/tR"
expect_rc 0 "restore with the recovery key"
treecmp "$S" "$TMP/tR$S" --ignore-sockets
run -r "$R" --recovery-key-file "$R.rk" check --read-data
expect_rc 0 "check with the recovery key"

say "the recovery key may be typed in lower case, with spaces, O for 0 and I/L for 1"
"$PY" - "$R.rk" "$TMP/typed.rk" <<'EOF'
import sys
code = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")][0]
typed = code.replace("-", " ").replace("0", "O").replace("1", "l").lower()
open(sys.argv[2], "w").write("  " + typed + "\n")
EOF
run -r "$R" --recovery-key-file "$TMP/typed.rk" snapshots
expect_rc 0 "recovery key in another spelling"

say "the other device's recovery key is well formed but wrong: exit 12"
run -r "$R" --recovery-key-file "$TMP/repoB.rk" snapshots
expect_rc 12 "wrong recovery key"
one_line_error "wrong recovery key"
run -r "$R" --recovery-key-file "$TMP/repoB.rk" restore latest --target "$TMP/tW"
expect_rc 12 "restore with a wrong recovery key"

say "a mistyped recovery key (one symbol changed) is a one-line error"
"$PY" - "$R.rk" "$TMP/typo.rk" <<'EOF'
import sys
alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
lines = open(sys.argv[1]).read().splitlines()
i = [n for n, l in enumerate(lines) if l.strip() and not l.startswith("#")][0]
s = list(lines[i])
pos = 17 if s[17] != "-" else 18
s[pos] = alpha[(alpha.index(s[pos]) + 7) % 32]
lines[i] = "".join(s)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
cmp -s "$R.rk" "$TMP/typo.rk" && fail "the typo did not change the file"
run -r "$R" --recovery-key-file "$TMP/typo.rk" snapshots
[ "$rc" != 0 ] || fail "a mistyped recovery key was accepted"
one_line_error "mistyped recovery key"
printf 'not a recovery key\n' >"$TMP/junk.rk"
run -r "$R" --recovery-key-file "$TMP/junk.rk" snapshots
[ "$rc" != 0 ] || fail "a junk recovery key file was accepted"
one_line_error "junk recovery key"
run -r "$R" --recovery-key-file "$TMP/no-such-file" snapshots
[ "$rc" != 0 ] || fail "a missing recovery key file was accepted"
one_line_error "missing recovery key file"

say "a repository that does not exist: exit 10"
export COFFER_HOME=$HOME_A
for cmd in snapshots "ls latest" "restore latest --target $TMP/tN" check "backup $S"; do
	# shellcheck disable=SC2086
	run -r "$TMP/no-such-repo" $cmd
	expect_rc 10 "missing repository: $cmd"
	one_line_error "missing repository: $cmd"
done
[ ! -e "$TMP/no-such-repo" ] || fail "a command created the missing repository"
mkdir "$TMP/empty-dir"
run -r "$TMP/empty-dir" snapshots
expect_rc 10 "an empty directory is not a repository"

say "init on an existing repository fails and changes nothing"
sum_before=$(cd "$R" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
run -r "$R" init --recovery-key-file "$TMP/second.rk"
[ "$rc" != 0 ] || fail "init twice succeeded"
one_line_error "init twice"
sum_after=$(cd "$R" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
[ "$sum_before" = "$sum_after" ] || fail "a failed init changed the repository"
run -r "$R" restore latest --target "$TMP/tA"
expect_rc 0 "restore after a failed second init"
treecmp "$S" "$TMP/tA$S" --ignore-sockets

say "passphrase-protected device key: encrypted on disk, opens only with the passphrase"
export COFFER_HOME=$TMP/homeP
printf 'correct horse battery staple\n' >"$TMP/pass"
printf 'wrong horse battery staple\n' >"$TMP/wrongpass"
export COFFER_PASSPHRASE_FILE=$TMP/pass
mkrepo "$TMP/repoP"
"$PY" - "$COFFER_HOME/device.key" <<'EOF' || fail "device.key is not Argon2id-encrypted"
import sys
b = open(sys.argv[1], "rb").read()
# docs/format.md section 12: prefix (8), kdf u8 = 1 for Argon2id.
assert b[:4] == b"COFR" and b[4] == 6 and b[8] == 1, b[:9]
EOF
run -r "$TMP/repoP" backup "$S"
expect_rc 0 "backup with the right passphrase"
run -r "$TMP/repoP" restore latest --target "$TMP/tP"
expect_rc 0 "restore with the right passphrase"
treecmp "$S" "$TMP/tP$S" --ignore-sockets
export COFFER_PASSPHRASE_FILE=$TMP/wrongpass
run -r "$TMP/repoP" backup "$S"
expect_rc 12 "backup with a wrong passphrase"
one_line_error "wrong passphrase"
run -r "$TMP/repoP" snapshots
expect_rc 12 "snapshots with a wrong passphrase"
unset COFFER_PASSPHRASE_FILE
rc=0
timeout 60 "$COFFER" -r "$TMP/repoP" snapshots </dev/null >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" != 124 ] || fail "without a terminal or passphrase file, coffer waited for input"
[ "$rc" != 0 ] || fail "an encrypted device key opened without a passphrase"
one_line_error "no passphrase"
export COFFER_PASSPHRASE_FILE=$TMP/pass
run -r "$TMP/repoP" snapshots
expect_rc 0 "snapshots with the right passphrase again"

say "ok"
