#!/bin/bash
# test_check_prune.sh - check while a prune deletes packs; nothing locks one against the other
# (docs/format.md 16.4). A forwarding proxy in front of a real cofferd (lib/hookproxy.py) runs
# the prune at an exact point of the check's conversation with the server:
#  1. `forget --prune` of the snapshot whose trees check is about to read, after it read the
#     snapshot object: no problem (trees of a snapshot deleted meanwhile are not missing);
#  2. prune after check read the index, before it listed the packs: no problem is reported
#     (the index it read names packs the listing lacks);
#  3. prune after check --read-data listed the packs, before it read the first: no problem,
#     and the packs it read verify;
#  4. must fail: a pack a kept snapshot needs that the server lists but answers 404 for is
#     reported by check --read-data (exit 13), by name;
#  5. must fail, a server passing damage off as a prune: trees it withholds (every ranged pack
#     read answered 404), a snapshot object it serves to the sequence check and then withholds,
#     a damaged pack it leaves out of read-data's own listing (also with a good copy in a pack
#     no index object names), a data pack it deletes together with the index object naming it
#     once check has read the index: each is a problem (exit 13);
#  6. must fail: a pack a kept snapshot needs, deleted outside prune (the index still names
#     it), is reported missing with exit 13, by name.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

need_cofferd http
serve_account alice
S=$TMP/src
mkdir -p "$S"
run -r "$R" init --token "$TOKEN" --recovery-key-file "$TMP/rk"
expect_rc 0 "init"

# objs KIND: "NAME SIZE" of each KIND object the server lists for alice, sorted; packs: names.
objs() {
	"$CF_HTTP" --key "$COFFER_HOME/device.key" --url "$URL/v1/alice/$1/" | sort
}
packs() {
	objs packs | cut -d' ' -f1
}

# as_alice METHOD OBJECT WANT...: a request signed by alice's device for OBJECT ("packs/ID",
# a query allowed); fail unless the status is one of WANT.
as_alice() {
	local method=$1 obj=$2 st want
	shift 2
	st=$("$CF_HTTP" --key "$COFFER_HOME/device.key" --url "$URL/v1/alice/$obj" \
		--method "$method" --print-status 2>/dev/null) || true
	for want in "$@"; do
		[ "$st" = "$want" ] && return 0
	done
	fail "$method $obj: $st"
}

# backup_new NAME BYTES: back up $S with a new random file NAME; sets NEW_PACK (the largest
# pack the backup stored) and NEW_INDEX (the index objects it stored).
backup_new() {
	objs packs >"$TMP/p0"
	objs index >"$TMP/i0"
	head -c "$2" /dev/urandom >"$S/$1"
	run -r "$R" backup "$S"
	expect_rc 0 "backup of $1"
	NEW_PACK=$(comm -13 "$TMP/p0" <(objs packs) | sort -k2 -n | tail -1 | cut -d' ' -f1)
	NEW_INDEX=$(comm -13 "$TMP/i0" <(objs index) | cut -d' ' -f1)
	[ -n "$NEW_PACK" ] || fail "backup of $1 stored no pack"
}

# two_snapshots NAME: back up a file NAME (snapshot id in $old), then a tree without it: the
# first snapshot's packs hold nothing the second needs.
two_snapshots() {
	rm -f "$S"/*
	head -c 600000 /dev/urandom >"$S/$1"
	run -r "$R" --json backup "$S"
	expect_rc 0 "backup with $1"
	old=$(json_get snapshot_id)
	rm -f "$S/$1"
	head -c 300000 /dev/urandom >"$S/$1.next"
	run -r "$R" backup "$S"
	expect_rc 0 "backup without $1"
}

# forgotten_old NAME: two_snapshots NAME, and the first forgotten without pruning: its packs
# are garbage that the next prune deletes.
forgotten_old() {
	two_snapshots "$1"
	run -r "$R" forget "$old"
	expect_rc 0 "forget the snapshot with $1"
}


# check_racing WHAT PATTERN ARGS...: `check ARGS` through a proxy that runs the command in the
# array HOOK (default: `prune --grace 0`, directly against cofferd) before it forwards the
# first request matching PATTERN.
check_racing() {
	local what=$1 pattern=$2
	shift 2
	start_proxy "$pattern" "${HOOK[@]}"
	packs >"$TMP/before"
	run -r "$PROXY_R" check "$@"
	stop_proxy
	[ "$(cat "$TMP/mark" 2>/dev/null)" = 0 ] || fail "$what: the prune did not run, or failed"
	packs >"$TMP/after"
	[ -n "$(comm -23 "$TMP/before" "$TMP/after")" ] || fail "$what: the prune deleted no pack"
	expect_rc 0 "$what"
}

say "1. forget --prune of the snapshot being walked, between its object and its trees"
two_snapshots c
HOOK=("$COFFER" -r "$R" forget "$old" --prune --grace 0)
# the walk goes oldest first: the first pack it reads holds the old snapshot's trees
check_racing "check racing forget --prune" '^GET /v1/alice/packs/[0-9a-f]{64}$'
run -r "$R" check --read-data
expect_rc 0 "check --read-data after forget --prune"

HOOK=("$COFFER" -r "$R" prune --grace 0)
say "2. prune between check's index and its pack listing: no false 'missing'"
forgotten_old a
check_racing "check racing a prune" '^GET /v1/alice/packs/\?'
run -r "$R" check --read-data
expect_rc 0 "check --read-data after the prune"

say "3. prune between check --read-data's listing and its first read"
forgotten_old b
check_racing "check --read-data racing a prune" '^GET /v1/alice/packs/[0-9a-f]{64}$' --read-data
run -r "$R" check --read-data
expect_rc 0 "check --read-data after the second prune"

# withheld WHAT SKIP PATTERN MESSAGE [ARGS]: check ARGS through a proxy that answers 404 for
# requests matching PATTERN after the first SKIP; must exit 13 and say MESSAGE.
withheld() {
	local what=$1 skip=$2 pattern=$3 message=$4
	shift 4
	HOOKPROXY_404=$pattern HOOKPROXY_404_SKIP=$skip start_proxy '^$' true
	run -r "$PROXY_R" check "$@"
	stop_proxy
	expect_rc 13 "check, $what"
	grep -q -- "$message" "$TMP/out" "$TMP/err" || fail "check, $what: no '$message'"
}

# hidden_damaged PACK WHAT: check --read-data through a proxy that leaves PACK out of
# read-data's own listing (the second) and flips its last byte; must name PACK and a chunk.
hidden_damaged() {
	HOOKPROXY_DROP_LINE="^$1 " HOOKPROXY_DROP_SKIP=1 HOOKPROXY_DROP_COUNT=1 \
		HOOKPROXY_CORRUPT="^GET /v1/alice/packs/$1\$" \
		withheld "$2" 0 '^$' "packs/$1 does not match its name" --read-data
	grep -q "chunk [0-9a-f]* is not verified" "$TMP/err" || fail "$2: no chunk of packs/$1 named"
}

say "4. must fail: a needed pack the server lists but withholds is reported by read-data"
victim=$(packs | head -1)
[ -n "$victim" ] || fail "no pack left"
withheld "a pack listed but withheld" 0 "^GET /v1/alice/packs/$victim\$" \
	"packs/$victim cannot be read" --read-data

say "5. must fail: damage passed off as a prune"
run -r "$R" check
expect_rc 0 "check before the server turns"
withheld "every ranged pack read withheld" 0 '^GET /v1/alice/packs/[0-9a-f]{64}$' "does not load"
latest=$(run -r "$R" --json snapshots && "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$TMP/out")
withheld "a snapshot served once, then withheld" 1 "^GET /v1/alice/snapshots/$latest\$" \
	"snapshot ${latest:0:16} cannot be read"
hidden_damaged "$(objs packs | sort -k2 -n | tail -1 | cut -d' ' -f1)" \
	"a damaged pack left out of read-data's listing"
# the same, with a good copy in a pack no index object names (g stored twice: the first pack
# and its index objects deleted before the second backup, then the pack brought back alone)
backup_new g 500000
orphan=$NEW_PACK
as_alice DELETE "packs/$orphan" 204
for idx in $NEW_INDEX; do
	as_alice DELETE "index/$idx" 204
done
objs packs >"$TMP/p0"
run -r "$R" backup "$S"
expect_rc 0 "backup of g again"
indexed=$(comm -13 "$TMP/p0" <(objs packs) | sort -k2 -n | tail -1 | cut -d' ' -f1)
as_alice POST "packs/$orphan?undelete" 200 204
hidden_damaged "$indexed" "a good copy only in a pack no index object names"
backup_new f 700000
{ # the server's turn: the data pack, and the backup's index objects
	echo "set -e"
	for obj in "packs/$NEW_PACK" $(printf 'index/%s ' $NEW_INDEX); do
		echo "'$CF_HTTP' --key '$COFFER_HOME/device.key' --url '$URL/v1/alice/$obj' --method DELETE"
	done
} >"$TMP/turn.sh"
start_proxy '^GET /v1/alice/packs/\?' bash "$TMP/turn.sh"
run -r "$PROXY_R" check
stop_proxy
[ "$(cat "$TMP/mark" 2>/dev/null)" = 0 ] || fail "the server's deletions did not run"
expect_rc 13 "check while the server deletes a data pack and its index object"
grep -q "'/.*/f': chunk [0-9a-f]* is missing" "$TMP/out" "$TMP/err" ||
	fail "check did not name f's missing chunk"
run -r "$R" undelete
expect_rc 0 "undelete"
run -r "$R" check --read-data
expect_rc 0 "check --read-data after undelete"

say "6. must fail: a needed pack deleted outside prune is reported missing"
as_alice DELETE "packs/$victim" 204
run -r "$R" check
expect_rc 13 "check with a pack deleted outside prune"
grep -q "packs/$victim is named by the index but missing" "$TMP/out" "$TMP/err" ||
	fail "check did not name the deleted pack $victim"
say "ok"
