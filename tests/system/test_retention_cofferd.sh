#!/bin/bash
# test_retention_cofferd.sh - forget and prune through a real cofferd on 127.0.0.1:
#  - forget --prune frees space on the server side (soft deletions, then gc) and the kept
#    snapshots restore;
#  - P6: a full device that forgets everything and prunes (ransomware with a stolen laptop)
#    is undone by `coffer undelete` within the retention window: every snapshot is back,
#    checks clean and restores byte for byte;
#  - a backup-only device cannot forget or prune, and the server refuses (403) its upload of
#    a forget or prune record even when signed correctly.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

need_cofferd http
serve_account alice

S=$TMP/src
mkdir -p "$S" "$TMP/man"
say "five backups of a changing tree"
run -r "$R" init --token "$TOKEN" --recovery-key-file "$TMP/rk"
expect_rc 0 "init"
for v in 1 2 3 4 5; do
	head -c 400000 /dev/urandom >"$S/v$v"
	rm -f "$S/v$((v - 2))"
	run -r "$R" --json backup "$S"
	expect_rc 0 "backup v$v"
	id=$(json_get snapshot_id)
	(cd "$S" && sha256sum ./* | sort) >"$TMP/man/$id"
done

say "forget --keep-last 3 --prune --grace 0 through cofferd"
run -r "$R" forget --keep-last 3 --prune --grace 0
expect_rc 0 "forget --prune"
run -r "$R" --json snapshots
n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
[ "$n" = 3 ] || fail "$n snapshots after forget, want 3"
"$COFFERD_BIN" admin --data "$D" list-deletions >"$TMP/dels" 2>&1 || fail "list-deletions"
grep -q "^alice packs " "$TMP/dels" || fail "prune deleted no pack on the server: $(head -3 "$TMP/dels")"
run -r "$R" check --read-data
expect_rc 0 "check --read-data after prune through cofferd"

say "P6: everything forgotten and pruned by a full device is brought back by undelete"
run -r "$R" forget --keep-last 1 --prune --grace 0
expect_rc 0 "malicious forget --prune"
run -r "$R" --json snapshots
n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
[ "$n" = 1 ] || fail "$n snapshots after the malicious forget, want 1"
run -r "$R" undelete
expect_rc 0 "undelete"
run -r "$R" --json snapshots
"$PY" -c 'import json,sys; [print(s["id"]) for s in json.load(open(sys.argv[1]))]' "$TMP/out" >"$TMP/ids"
[ "$(wc -l <"$TMP/ids")" = 5 ] || fail "$(wc -l <"$TMP/ids") snapshots after undelete, want 5"
run -r "$R" check --read-data
expect_rc 0 "check --read-data after undelete"
say "   the server shows the superseded forget records again: nothing is hidden"
"$COFFERD_BIN" admin --data "$D" list-deletions | awk '$2 == "forgets" {print $3}' >"$TMP/oldrecs"
[ -s "$TMP/oldrecs" ] || fail "undelete replaced no forget record"
while read -r name; do
	st=$("$CF_HTTP" --key "$COFFER_HOME/device.key" --url "$URL/v1/alice/forgets/$name?undelete" \
		--method POST --print-status 2>/dev/null) || true
	[ "$st" = 200 ] || [ "$st" = 204 ] || fail "server-side undelete of forgets/$name: $st"
done <"$TMP/oldrecs"
run -r "$R" --json snapshots
n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
[ "$n" = 5 ] || fail "$n snapshots with the superseded records back, want 5"
while read -r id; do
	rm -rf "$TMP/rr"
	run -r "$R" restore "$id" --target "$TMP/rr"
	expect_rc 0 "restore $id after undelete"
	(cd "$TMP/rr$S" && sha256sum ./* | sort) >"$TMP/got"
	cmp -s "$TMP/got" "$TMP/man/$id" || fail "snapshot $id differs after undelete"
done <"$TMP/ids"
run -r "$R" backup "$S"
expect_rc 0 "backup after undelete"

say "a backup-only device: no forget, no prune, and the server refuses its records (403)"
B=$TMP/bhome
COFFER_HOME=$B run -r "$R" --json devices join --role backup-only --device-name box
expect_rc 0 "join"
CODE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
run -r "$R" devices approve "$CODE" --yes
expect_rc 0 "approve"
COFFER_HOME=$B run -r "$R" backup "$S"
expect_rc 0 "backup-only backup"
COFFER_HOME=$B run -r "$R" forget --keep-last 1
expect_rc 1 "forget from a backup-only device"
one_line_error "forget from a backup-only device"
COFFER_HOME=$B run -r "$R" prune
expect_rc 1 "prune from a backup-only device"
one_line_error "prune from a backup-only device"
printf 'not a record' >"$TMP/rec"
name=$(sha256sum "$TMP/rec" | cut -c1-64)
for kind in forgets prune; do
	st=$("$CF_HTTP" --key "$B/device.key" --url "$URL/v1/alice/$kind/$name" --method PUT \
		--body "$TMP/rec" --print-status 2>/dev/null) || true
	[ "$st" = 403 ] || fail "backup-only PUT $kind: status '$st', want 403"
	st=$("$CF_HTTP" --key "$COFFER_HOME/device.key" --url "$URL/v1/alice/$kind/$name" --method PUT \
		--body "$TMP/rec" --print-status 2>/dev/null) || true
	[ "$st" = 201 ] || [ "$st" = 400 ] || fail "full device PUT $kind: status '$st'"
done
say "   a stray record from the storage side is ignored: snapshots and check unchanged"
run -r "$R" check
expect_rc 0 "check with a garbage record present"

say "a backup-only device forges altered copies of every data pack and an index object that"
say "   sorts first: prune deletes nothing still needed, restore finds the genuine copies"
if [ -n "${CF_FORGE:-}" ]; then
	(cd "$S" && sha256sum ./* | sort) >"$TMP/want"
	n=$(COFFER_HOME=$B "$CF_FORGE" poison-index "$R") || fail "poison-index failed"
	[ "$n" -ge 1 ] || fail "poison-index made no copies"
	for round in 1 2; do
		run -r "$R" prune --grace 0
		expect_rc 0 "prune $round over a poisoned index"
		run -r "$R" backup "$S"
		expect_rc 0 "backup $round over a poisoned index"
	done
	rm -rf "$TMP/rp"
	run -r "$R" restore latest --target "$TMP/rp"
	expect_rc 0 "restore over a poisoned index"
	(cd "$TMP/rp$S" && sha256sum ./* | sort) >"$TMP/got"
	cmp -s "$TMP/got" "$TMP/want" || fail "restore over a poisoned index differs"
	run -r "$R" check --read-data
	expect_rc 13 "check --read-data names the forged copies"
	grep -q "packs/.*is damaged" "$TMP/err" || fail "check did not name the forged packs"
	! grep -q "chunk .* is damaged" "$TMP/err" || fail "check called a file damaged that restores"
fi
say "ok"
