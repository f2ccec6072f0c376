#!/bin/bash
# test_cofferd_client.sh - coffer through a real cofferd on 127.0.0.1: a hostile tree backed
# up and restored identically; nothing of it in the server's data directory (P1); another
# account's device refused; two devices of one account backing up at once; a quota that an
# upload would pass refused with the repository left consistent; the server killed with
# SIGKILL in the middle of a backup, restarted, and the next backup completing with
# `check --read-data` clean.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

need_cofferd
D=$TMP/server
# COFFERD_STORES (set by test_scaleout.sh): "--meta postgres://... --blobs s3://..."; the
# plaintext scan then covers only what stays on disk (uploads in flight).
read -r -a STORES <<<"${COFFERD_STORES:-}"

say "a server with accounts alice, bob and tiny (quota 1 MiB)"
"$COFFERD_BIN" init --data "$D" "${STORES[@]}" >/dev/null
TA=$("$COFFERD_BIN" admin --data "$D" "${STORES[@]}" create-account alice --quota 2G)
TB=$("$COFFERD_BIN" admin --data "$D" "${STORES[@]}" create-account bob --quota 2G)
TT=$("$COFFERD_BIN" admin --data "$D" "${STORES[@]}" create-account tiny --quota 1M)
serve_cofferd "$D" "${STORES[@]}"

say "alice: init with the enrollment token, back up a hostile tree, restore it identically"
S=$TMP/src
"$PY" "$LIB/mkhostile.py" "$S" --small
M1=marker-$RANDOM-$RANDOM-plaintext-content
M2=marker-$RANDOM-$RANDOM-secret-name
printf '%s\n' "$M1" >"$S/notes.txt"
printf 'x\n' >"$S/$M2"
run -r "$URL/alice" init --token "$TA" --recovery-key-file "$TMP/alice.rk"
expect_rc 0 "init alice"
run -r "$URL/alice" init --token "$TA" --recovery-key-file "$TMP/alice2.rk"
[ "$rc" != 0 ] || fail "a used enrollment token was accepted again"
run -r "$URL/alice" backup "$S"
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "backup through cofferd: exit $rc"
run -r "$URL/alice" restore latest --target "$TMP/r1"
expect_rc 0 "restore through cofferd"
treecmp "$S" "$TMP/r1$S" --ignore-sockets
run -r "$URL/alice" check --read-data
expect_rc 0 "check --read-data through cofferd"

say "P1: the server's data directory holds none of the markers"
"$PY" "$LIB/plainscan.py" "$D" "$M1" "$M2" >"$TMP/scan" 2>&1 || fail "plaintext on the server: $(cat "$TMP/scan")"

say "bob's device cannot read alice's account (12), and alice's repository does not exist for bob"
BOBHOME=$TMP/bobhome
COFFER_HOME=$BOBHOME run -r "$URL/bob" init --token "$TB" --recovery-key-file "$TMP/bob.rk"
expect_rc 0 "init bob"
COFFER_HOME=$BOBHOME run -r "$URL/alice" snapshots
[ "$rc" = 12 ] || [ "$rc" = 10 ] || fail "bob reading alice: exit $rc"
COFFER_HOME=$BOBHOME run -r "$URL/nosuchaccount" snapshots
[ "$rc" != 0 ] || fail "an unknown account answered"

say "two devices of alice back up at the same time; both snapshots restore"
CAROL=$TMP/carolhome
COFFER_HOME=$CAROL run -r "$URL/alice" --json devices join --device-name carol
expect_rc 0 "join"
CODE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
run -r "$URL/alice" devices approve "$CODE" --yes
expect_rc 0 "approve"
mkdir -p "$TMP/a2" "$TMP/c2"
head -c 3000000 /dev/urandom >"$TMP/a2/a.bin"
head -c 3000000 /dev/urandom >"$TMP/c2/c.bin"
"$COFFER" -q -r "$URL/alice" backup "$TMP/a2" >"$TMP/o1" 2>&1 &
p1=$!
COFFER_HOME=$CAROL "$COFFER" -q -r "$URL/alice" backup "$TMP/c2" >"$TMP/o2" 2>&1 &
p2=$!
wait "$p1" || fail "alice's concurrent backup failed: $(cat "$TMP/o1")"
wait "$p2" || fail "carol's concurrent backup failed: $(cat "$TMP/o2")"
run -r "$URL/alice" --json snapshots
expect_rc 0 "snapshots"
cp "$TMP/out" "$TMP/snaps.json"
for d in a2 c2; do
	id=$("$PY" -c 'import json,sys; print([s["id"] for s in json.load(open(sys.argv[1])) if sys.argv[2] in s["paths"][0]][0])' "$TMP/snaps.json" "$TMP/$d")
	run -r "$URL/alice" restore "$id" --target "$TMP/rr$d"
	expect_rc 0 "restore $d"
	cmp "$TMP/$d/${d:0:1}.bin" "$TMP/rr$d$TMP/$d/${d:0:1}.bin" || fail "$d restored wrong"
done

say "a full device's delete is soft: the gap is reported (13), undelete brings it back"
run -r "$URL/alice" --json snapshots
expect_rc 0 "snapshots before the delete"
SID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["id"])' "$TMP/out")
st=$("$CF_HTTP" --key "$COFFER_HOME/device.key" --url "$URL/v1/alice/snapshots/$SID" --method DELETE --print-status)
[ "$st" = 204 ] || fail "DELETE by a full device: status $st"
run -r "$URL/alice" snapshots
expect_rc 13 "snapshots with a deleted snapshot (a gap in the device's sequence)"
run -r "$URL/alice" check
expect_rc 13 "check with a deleted snapshot"
grep -q "coffer undelete" "$TMP/err" || fail "check does not mention undelete: $(cat "$TMP/err")"
run -r "$URL/alice" undelete
expect_rc 0 "undelete"
run -r "$URL/alice" check
expect_rc 0 "check after undelete"
st=$("$CF_HTTP" --key "$CAROL/device.key" --url "$URL/v1/alice/snapshots/?deleted=1" --print-status)
[ "$st" = 200 ] || fail "listing deletions by a full device: status $st"

say "quota: the upload that would pass it is refused, the repository stays consistent"
TINY=$TMP/tinyhome
COFFER_HOME=$TINY run -r "$URL/tiny" init --token "$TT" --recovery-key-file "$TMP/tiny.rk"
expect_rc 0 "init tiny"
mkdir -p "$TMP/big"
head -c 3000000 /dev/urandom >"$TMP/big/big.bin"
COFFER_HOME=$TINY run -r "$URL/tiny" backup "$TMP/big"
[ "$rc" != 0 ] || fail "a backup over the quota succeeded"
grep -qi "quota" "$TMP/err" || fail "the quota error does not say so: $(cat "$TMP/err")"
COFFER_HOME=$TINY run -r "$URL/tiny" check
expect_rc 0 "check after a refused upload"

say "the server killed with SIGKILL mid-backup, restarted: the next backup completes"
mkdir -p "$TMP/k"
for i in 1 2 3 4 5 6; do head -c 8000000 /dev/urandom >"$TMP/k/f$i"; done
"$COFFER" -q -r "$URL/alice" backup "$TMP/k" >"$TMP/o3" 2>&1 &
p3=$!
sleep 0.5
kill -9 "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=""
wait "$p3" && say "note: the backup finished before the server died" || true
serve_cofferd "$D" "${STORES[@]}"
run -r "$URL/alice" backup "$TMP/k"
expect_rc 0 "backup after the server restart"
run -r "$URL/alice" check --read-data
expect_rc 0 "check --read-data after the server restart"
run -r "$URL/alice" restore latest --target "$TMP/rk"
expect_rc 0 "restore after the server restart"
diff -r "$TMP/k" "$TMP/rk$TMP/k" >/dev/null || fail "restored data differs after the restart"
stop_cofferd

say "TLS: the same service over https with a self-signed certificate the client is told to trust"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$TMP/tls.key" -out "$TMP/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a certificate"
"$COFFERD_BIN" serve --data "$D" "${STORES[@]}" --listen "127.0.0.1:$SERVE_PORT" --tls-cert "$TMP/tls.crt" \
	--tls-key "$TMP/tls.key" 2>>"$TMP/server.log" &
SPID=$!
for _ in $(seq 100); do
	curl -sf --cacert "$TMP/tls.crt" "https://127.0.0.1:$SERVE_PORT/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
run -r "https://127.0.0.1:$SERVE_PORT/alice" snapshots
[ "$rc" != 0 ] || fail "an untrusted certificate was accepted"
COFFER_CA_FILE=$TMP/tls.crt run -r "https://127.0.0.1:$SERVE_PORT/alice" backup "$TMP/a2"
expect_rc 0 "backup over TLS"
COFFER_CA_FILE=$TMP/tls.crt run -r "https://127.0.0.1:$SERVE_PORT/alice" restore latest --target "$TMP/rtls"
expect_rc 0 "restore over TLS"
cmp "$TMP/a2/a.bin" "$TMP/rtls$TMP/a2/a.bin" || fail "restored wrong over TLS"
stop_cofferd
say "ok"
