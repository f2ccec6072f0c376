#!/bin/bash
# test_contract.sh - DESIGN.md section 8 where an audit found the programs wrong:
#   - a missing repository exits 10 even before this machine has a device identity;
#   - values the programs refuse, and a missing required option, exit 2;
#   - --name=VALUE means --name VALUE;
#   - P10 for a damaged snapshot object: the others still list and restore, the damaged one is
#     named (exit 13 from snapshots, check, prune, and restore of it or of "latest"), backups
#     go on, also after this device's own newest snapshot is damaged;
#   - check --json also writes each problem to stderr;
#   - forget --json --prune prints the plan, then the prune;
#   - cofferd --help exits 0;
#   - a snapshot of this device that the server hides right after it was stored is caught (exit
#     13), and the next backup does not reuse its sequence number; one it garbles fails the
#     backup (exit 13);
#   - devices approve --role refuses a request that asks for another role.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src

# listed ID: is ID one of the ids in the --json snapshots output in $TMP/out?
listed() {
	"$PY" -c 'import json, sys
sys.exit(0 if sys.argv[2] in [x["id"] for x in json.load(open(sys.argv[1]))] else 1)' \
		"$TMP/out" "$1"
}

mkdir -p "$S"
printf 'one\n' >"$S/a"

say "a missing repository exits 10, also with no device identity yet"
for cmd in snapshots check "ls latest" "restore latest --target $TMP/t"; do
	# shellcheck disable=SC2086
	run -r "$TMP/no-such-repo" $cmd
	expect_rc 10 "'$cmd' of a missing repository, no identity"
	one_line_error "'$cmd' of a missing repository"
	grep -q "does not exist" "$TMP/err" || fail "'$cmd': the error does not say it is missing"
done
[ ! -e "$COFFER_HOME/device.key" ] || fail "a failed command created a device identity"
mkrepo "$R"
run --repo="$R" --json backup --tag=first "$S"
expect_rc 0 "backup with --repo= and --tag="
first=$(json_get snapshot_id)

say "refused values and a missing required option exit 2"
usage_error() {
	run "$@"
	expect_rc 2 "coffer $*"
	one_line_error "coffer $*"
}
usage_error -r "$R" backup --time garbage "$S"
usage_error -r "$R" backup --workers 0 "$S"
usage_error -r "$R" restore latest --target "$TMP/t" --workers abc
usage_error -r "$R" restore latest --target "$TMP/t" --workers 99999999
usage_error -r "$R" ls 1234567
usage_error -r "$R" ls LATEST
usage_error -r "$R" devices join --role admin
usage_error recover
usage_error --json=yes -r "$R" snapshots
[ ! -e "$TMP/t" ] || fail "a usage error created the restore target"

say "--name=VALUE is --name VALUE (the first backup above had --repo= and --tag=)"
run -r "$R" --json snapshots --tag=first
expect_rc 0 "snapshots --tag="
listed "$first" || fail "snapshots --tag=first does not list the tagged snapshot"
run -r "$R" restore latest --target="$TMP/t1"
expect_rc 0 "restore --target="
cmp "$S/a" "$TMP/t1$S/a" || fail "restore --target= restored other bytes"
grep -q "restored snapshot ${first:0:8} " "$TMP/out" || fail "restore does not name the snapshot id"

# flip PATH: one byte in the middle of a file, in place
flip() {
	"$PY" - "$1" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(bytes(b))
EOF
}

# backup_with FILE TEXT REPO: add FILE holding TEXT to $S and back it up into REPO; sets id
backup_with() {
	printf '%s\n' "$2" >"$S/$1"
	run -r "$3" --json backup "$S"
	expect_rc 0 "backup with $1 into $3"
	id=$(json_get snapshot_id)
}

say "P10: a damaged snapshot object is named; the others still list and restore"
backup_with b two "$R"
second=$id
flip "$R/snapshots/$first"
run -r "$R" --json snapshots
expect_rc 13 "snapshots with one damaged"
listed "$second" || fail "snapshots does not list the undamaged snapshot"
listed "$first" && fail "snapshots lists the damaged snapshot"
grep -q "${first:0:16}" "$TMP/err" || fail "snapshots does not name the damaged snapshot"
run -r "$R" restore "${second:0:8}" --target "$TMP/t2"
expect_rc 0 "restore of the undamaged snapshot"
cmp "$S/b" "$TMP/t2$S/b" || fail "restore of the undamaged snapshot: other bytes"
grep -q "${first:0:16}" "$TMP/err" || fail "restore does not warn about the damaged snapshot"
run -r "$R" restore "${first:0:8}" --target "$TMP/t3"
expect_rc 13 "restore of the damaged snapshot"
[ ! -e "$TMP/t3$S" ] || fail "restore of the damaged snapshot wrote files"
run -r "$R" restore latest --target "$TMP/t4"
expect_rc 13 "restore latest while a snapshot's time cannot be read"
run -r "$R" check
expect_rc 13 "check with a damaged snapshot"
grep -q "${first:0:16}" "$TMP/err" || fail "check does not name the damaged snapshot"
grep -Eq "missing|does not follow|gone" "$TMP/err" && fail "check calls the damage a gap"

say "P10: backups go on, also after this device's newest snapshot is damaged"
backup_with c three "$R" # beside a damaged snapshot
third=$id
flip "$R/snapshots/$third"
backup_with d four "$R" # after its own newest snapshot was damaged
fourth=$id
run -r "$R" check
expect_rc 13 "check with two damaged snapshots"
grep -q "${third:0:16}" "$TMP/err" || fail "check does not name the second damaged snapshot"
grep -Eq "missing|does not follow|gone" "$TMP/err" && fail "check calls the damage a gap"
run -r "$R" restore "$fourth" --target "$TMP/t5"
expect_rc 0 "restore of the snapshot after the damaged one"
cmp "$S/d" "$TMP/t5$S/d" || fail "restore after the damaged one: other bytes"
run -r "$R" prune
expect_rc 13 "prune with a damaged snapshot"
grep -q "prune does not delete" "$TMP/err" || fail "prune does not say why it stops"

say "P10 still catches a snapshot that is gone (not damaged)"
# gap_reported REPO WHAT: `snapshots` of REPO exits 13 and calls a snapshot missing or gone
gap_reported() {
	run -r "$1" snapshots
	expect_rc 13 "snapshots with $2"
	grep -Eq "missing|gone" "$TMP/err" || fail "$2: no snapshot reported missing"
}
rm "$R/snapshots/$second"
gap_reported "$R" "one deleted"

say "P10: damage does not explain a snapshot withheld next to it"
R4=$TMP/repo4
mkrepo "$R4"
for f in a b c; do
	backup_with "$f" "$f" "$R4"
	last=$id
	[ "$f" != b ] || middle=$last
done
rm "$R4/snapshots/$middle"
flip "$R4/snapshots/$last"
gap_reported "$R4" "the newest damaged and the one before deleted"

say "P10: the damaged leftover of a forgotten snapshot blocks nothing"
R6=$TMP/repo6
mkrepo "$R6"
backup_with g one "$R6"
old6=$id
backup_with h two "$R6"
kept6=$id
cp "$R6/snapshots/$old6" "$TMP/old6"
run -r "$R6" forget "$old6"
expect_rc 0 "forget the first snapshot of repo6"
cp "$TMP/old6" "$R6/snapshots/$old6" # its deletion did not happen
chmod u+w "$R6/snapshots/$old6"
flip "$R6/snapshots/$old6"
run -r "$R6" snapshots
expect_rc 0 "snapshots beside a forgotten snapshot's damaged leftover"
run -r "$R6" prune --dry-run # a real prune deletes the leftover before it looks
expect_rc 0 "prune --dry-run beside a forgotten snapshot's damaged leftover"
run -r "$R6" prune
expect_rc 0 "prune beside a forgotten snapshot's damaged leftover"
cp "$R6/snapshots/$kept6" "$R6/snapshots/$kept6-1" # a stray object: a snapshot's name, and more
run -r "$R6" --json snapshots
expect_rc 13 "snapshots beside a stray object"
listed "$kept6" || fail "a stray object named $kept6-1 hid snapshot $kept6"

say "approve: no terminal needed; refused when requests with the code ask for different roles"
R5=$TMP/repo5
mkrepo "$R5"
COFFER_HOME=$TMP/home-j run -r "$R5" --json devices join --role backup-only
expect_rc 0 "join as backup-only"
code=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
req=$(ls "$R5/requests")
mv "$R5/requests/$req" "$TMP/old-request"
COFFER_HOME=$TMP/home-j run -r "$R5" devices join --role full
expect_rc 0 "join again as full"
cp "$TMP/old-request" "$R5/requests/$req-0" # the older request, served again
run -r "$R5" devices approve "$code" </dev/null
expect_rc 1 "approve with requests asking for different roles"
grep -q "different roles" "$TMP/err" || fail "approve does not say the roles differ"
rm "$R5/requests/$req-0"
run -r "$R5" devices approve "$code" --role backup-only </dev/null
expect_rc 1 "approve --role backup-only of a request asking for full"
one_line_error "approve --role backup-only of a request asking for full"
grep -q "asks for role 'full'" "$TMP/err" || fail "approve --role does not say why it refuses"
usage_error -r "$R5" devices approve "$code" --role admin
run -r "$R5" devices approve "$code" </dev/null
expect_rc 0 "approve CODE with no terminal and no --yes"
run -r "$R5" --json devices list
"$PY" -c 'import json, sys
other = [d for d in json.load(open(sys.argv[1]))["devices"] if not d["self"]]
assert [d["role"] for d in other] == ["full"], other' "$TMP/out" ||
	fail "the approved device is not the one full device besides this one"

say "check --json: problems on stderr too"
run -r "$TMP/no-such-repo" --json check
expect_rc 10 "check --json of a missing repository"
grep -q '"ok":false' "$TMP/out" || fail "check --json: no ok:false"
one_line_error "check --json of a missing repository"

say "forget --json --prune: the plan, then the prune; --dry-run: the plan"
R2=$TMP/repo2
mkrepo "$R2"
run -r "$R2" backup "$S"
run -r "$R2" backup "$S"
run -r "$R2" --json forget --keep-last 1 --dry-run --prune
expect_rc 0 "forget --json --dry-run --prune"
[ "$(wc -l <"$TMP/out")" = 1 ] || fail "forget --json --dry-run --prune: want one line"
run -r "$R2" --json forget --keep-last 1 --prune
expect_rc 0 "forget --json --prune"
[ "$(wc -l <"$TMP/out")" = 2 ] || fail "forget --json --prune: want two lines"
"$PY" -c 'import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
assert "packs_deleted" in b and "packs_deleted" not in a, (a, b)' "$TMP/out" ||
	fail "forget --json --prune: not the plan, then the prune"

need_cofferd
say "cofferd --help exits 0 and prints its usage"
"$COFFERD_BIN" --help >"$TMP/out" 2>"$TMP/err" || fail "cofferd --help: exit $?"
grep -q "usage: cofferd" "$TMP/out" || fail "cofferd --help prints no usage"

say "a new snapshot the server hides right after storing it is caught, its number not reused"
serve_account alice
run -r "$R" init --token "$TOKEN" --recovery-key-file "$TMP/alice.rk"
expect_rc 0 "init on cofferd"
run -r "$R" --json backup "$S"
expect_rc 0 "first backup on cofferd"
s1=$(json_get snapshot_id)
printf 'five\n' >"$S/e"
HOOKPROXY_DROP_PATH='/snapshots/\?' HOOKPROXY_DROP_LINE="^(?!$s1 )[0-9a-f]{64} " \
	start_proxy '^$' true
run -r "$PROXY_R" backup "$S"
stop_proxy
expect_rc 13 "backup whose snapshot the server leaves out of the next listing"
grep -q "gone (rollback or deletion)" "$TMP/err" || fail "the hidden snapshot is not reported"
run -r "$R" backup "$S"
expect_rc 0 "the next backup, the server honest again"
run -r "$R" --json snapshots
expect_rc 0 "snapshots on cofferd"
"$PY" -c 'import json, sys
seqs = sorted(x["seq"] for x in json.load(open(sys.argv[1])))
assert seqs == [1, 2, 3], seqs' "$TMP/out" || fail "a sequence number was reused (a fork)"
run -r "$R" check
expect_rc 0 "check after the hidden snapshot came back"

say "a new snapshot the server garbles right after storing it fails the backup"
run -r "$R" --json snapshots
known=$("$PY" -c 'import json, sys; print("|".join(x["id"] for x in json.load(open(sys.argv[1]))))' \
	"$TMP/out")
printf 'six\n' >"$S/f"
HOOKPROXY_CORRUPT="^GET /v1/alice/snapshots/(?!$known)[0-9a-f]{64}\$" start_proxy '^$' true
run -r "$PROXY_R" backup "$S"
stop_proxy
expect_rc 13 "backup whose snapshot reads back damaged"
grep -q "reads back damaged" "$TMP/err" || fail "the garbled new snapshot is not reported"

say "ok"
