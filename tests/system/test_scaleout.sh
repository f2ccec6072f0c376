#!/bin/bash
# test_scaleout.sh - cofferd on PostgreSQL and S3 (Ceph RADOS Gateway), several instances:
#  1. the cofferd system tests (test_cofferd.sh: forged, replayed, skewed and oversized
#     requests, roles, soft deletion, gc, quota races, SIGTERM; test_cofferd_client.sh:
#     roundtrip, isolation, concurrent devices, quota, server SIGKILL mid-backup) again, with
#     --meta postgres://... --blobs s3://... (each on its own database and bucket);
#  2. two instances sharing one database and one bucket: a backup through A restores through
#     B; two devices back up at once, one through each; a nonce used at A is refused at B;
#     A is killed with SIGKILL in the middle of a backup while B goes on; a restarted A
#     serves again and check --read-data is clean;
#  3. failures: the S3 gateway stopped and restarted during a backup (the backup fails
#     cleanly or completes; nothing half-stored; the next backup and check succeed), and
#     PostgreSQL restarted under a running instance (it reconnects).
# Real servers only, started here on 127.0.0.1 and stopped by PID; skipped (exit 0) only
# when PostgreSQL 15 or the Ceph daemons are not installed.
set -euo pipefail
. "$(dirname "$0")/_common.sh"
. "$LIB/pg.sh"
. "$LIB/ceph.sh"

if [ -z "${COFFERD_BIN:-}" ] || [ -z "${CF_HTTP:-}" ]; then
	say "skipped: COFFERD_BIN or CF_HTTP is not set"
	exit 0
fi
if ! pg_available || ! ceph_available; then
	say "skipped: PostgreSQL 15 or ceph-mon/ceph-osd/radosgw are not installed"
	exit 0
fi
SPIDS=()
CEPH=$TMP/ceph
cleanup() {
	for p in "${SPIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ceph_stop "$CEPH"
	pg_stop
	chmod -R u+rwx "$TMP" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

say "PostgreSQL and Ceph (mon, memstore OSD, radosgw) on 127.0.0.1"
pg_start "$TMP/pg" >/dev/null || fail "PostgreSQL did not start"
ceph_start "$CEPH" >/dev/null || fail "Ceph did not start"
export PGPASSWORD=$PG_PASSWORD
export AWS_ACCESS_KEY_ID=$CEPH_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CEPH_S3_SECRET_KEY
pg_url() { echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"; }
s3_url() { echo "s3://$1?endpoint=$CEPH_S3_ENDPOINT&region=$CEPH_S3_REGION"; }

say "the password on the command line is refused"
if "$COFFERD_BIN" init --data "$TMP/x" --meta "$PG_URL_PW" 2>"$TMP/err"; then
	fail "a password in --meta was accepted"
fi
grep -q PGPASSWORD "$TMP/err" || fail "no hint at PGPASSWORD: $(cat "$TMP/err")"

for t in test_cofferd test_cofferd_client; do
	say "1. $t on PostgreSQL + S3"
	db=${t//_/}
	pg_createdb "$db" || fail "createdb $db"
	COFFERD_STORES="--meta $(pg_url "$db") --blobs $(s3_url "$db")" \
		bash "$CF_TESTS/system/$t.sh" >"$TMP/$t.log" 2>&1 ||
		{
			tail -20 "$TMP/$t.log" >&2
			fail "$t failed on PostgreSQL + S3"
		}
	grep -q "ok" "$TMP/$t.log" || fail "$t printed no ok"
done

say "2. two instances, one database, one bucket"
STORES=(--meta "$(pg_url coffer)" --blobs "$(s3_url shared)")
"$COFFERD_BIN" init --data "$TMP/a" "${STORES[@]}" >/dev/null || fail "init A"
"$COFFERD_BIN" init --data "$TMP/b" "${STORES[@]}" >/dev/null || fail "init B (same stores)"
TA=$("$COFFERD_BIN" admin --data "$TMP/a" "${STORES[@]}" create-account alice --quota 4G)
"$COFFERD_BIN" admin --data "$TMP/b" "${STORES[@]}" list-accounts | grep -q '^alice ' ||
	fail "the account made through A is not seen through B"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PA=$(free_port)
PB=$(free_port)
declare -A PID
start() { # NAME PORT
	"$COFFERD_BIN" serve --data "$TMP/$1" "${STORES[@]}" --listen "127.0.0.1:$2" \
		2>>"$TMP/$1.log" &
	PID[$1]=$!
	SPIDS+=("${PID[$1]}")
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "instance $1 did not start: $(tail -3 "$TMP/$1.log")"
}
start a "$PA"
start b "$PB"
RA=http://127.0.0.1:$PA/alice
RB=http://127.0.0.1:$PB/alice

S=$TMP/src
"$PY" "$LIB/mkhostile.py" "$S" --small
run -r "$RA" init --token "$TA" --recovery-key-file "$TMP/rk"
expect_rc 0 "init through A"
run -r "$RA" backup "$S"
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "backup through A: exit $rc"
run -r "$RB" restore latest --target "$TMP/r1"
expect_rc 0 "restore through B"
treecmp "$S" "$TMP/r1$S" --ignore-sockets

say "   two devices back up at once, one through each instance"
H2=$TMP/home2
COFFER_HOME=$H2 run -r "$RB" --json devices join --device-name second
expect_rc 0 "join through B"
CODE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
run -r "$RA" devices approve "$CODE" --yes
expect_rc 0 "approve through A"
mkdir -p "$TMP/d1" "$TMP/d2"
head -c 6000000 /dev/urandom >"$TMP/d1/one"
head -c 6000000 /dev/urandom >"$TMP/d2/two"
"$COFFER" -q -r "$RA" backup "$TMP/d1" >"$TMP/o1" 2>&1 &
p1=$!
COFFER_HOME=$H2 "$COFFER" -q -r "$RB" backup "$TMP/d2" >"$TMP/o2" 2>&1 &
p2=$!
wait "$p1" || fail "backup through A failed: $(cat "$TMP/o1")"
wait "$p2" || fail "backup through B failed: $(cat "$TMP/o2")"
for r in "$RA" "$RB"; do
	run -r "$r" check --read-data
	expect_rc 0 "check --read-data through $r"
done

say "   a nonce used at A is refused at B"
KA=$COFFER_HOME/device.key
N=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
st=$("$CF_HTTP" --key "$KA" --url "http://127.0.0.1:$PA/v1/alice/snapshots/" --nonce "$N" \
	--print-status 2>/dev/null) || true
[ "$st" = 200 ] || fail "first use of a nonce at A: $st"
st=$("$CF_HTTP" --key "$KA" --url "http://127.0.0.1:$PB/v1/alice/snapshots/" --nonce "$N" \
	--print-status 2>/dev/null) || true
[ "$st" = 401 ] || fail "the same nonce at B: $st, want 401"

say "   A killed with SIGKILL mid-backup; B goes on; A restarted; check clean"
mkdir -p "$TMP/big"
for i in 1 2 3 4; do head -c 20000000 /dev/urandom >"$TMP/big/f$i"; done
"$COFFER" -q -r "$RA" backup "$TMP/big" >"$TMP/o3" 2>&1 &
p3=$!
sleep 1
kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
wait "$p3" && say "   (the backup through A finished before the kill)"
COFFER_HOME=$H2 run -r "$RB" backup "$TMP/big"
expect_rc 0 "backup through B while A is down"
start a "$PA"
run -r "$RA" backup "$TMP/big"
expect_rc 0 "backup through the restarted A"
run -r "$RB" check --read-data
expect_rc 0 "check --read-data after the kill"

say "3. the S3 gateway stopped and restarted during a backup"
for i in 1 2 3 4; do head -c 20000000 /dev/urandom >"$TMP/big/g$i"; done
"$COFFER" -q -r "$RA" backup "$TMP/big" >"$TMP/o4" 2>&1 &
p4=$!
sleep 1
ceph_rgw_stop "$CEPH"
sleep 2
ceph_rgw_start "$CEPH" || fail "the gateway did not come back"
brc=0
wait "$p4" || brc=$?
case $brc in
0) say "   the backup rode it out (retries)" ;;
1) say "   the backup failed cleanly: $(tail -1 "$TMP/o4")" ;;
*) fail "backup across a gateway restart: exit $brc: $(cat "$TMP/o4")" ;;
esac
run -r "$RA" backup "$TMP/big"
expect_rc 0 "backup after the gateway restart"
run -r "$RB" check --read-data
expect_rc 0 "check --read-data after the gateway restart"

say "   PostgreSQL restarted under both instances: they reconnect"
pg_restart || fail "PostgreSQL did not restart"
head -c 1000000 /dev/urandom >"$TMP/d1/after-pg"
run -r "$RA" backup "$TMP/d1"
expect_rc 0 "backup through A after the database restart"
run -r "$RB" snapshots
expect_rc 0 "snapshots through B after the database restart"
say "ok"
