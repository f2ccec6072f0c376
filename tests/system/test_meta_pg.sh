#!/bin/bash
# test_meta_pg.sh - cofferd's metadata on PostgreSQL (server/meta_pg.c) against the same
# contract checks as SQLite (tests/tools/cf_metatest.c): both backends pass every check,
# including the races between threads and between two handles; the schema is created once
# and refused when missing or newer; the password never appears in a message; a handle
# keeps working across a restart of the database (every pooled connection is reset); an
# operation aborted by a deadlock is tried again; transactions stay READ COMMITTED on a
# database whose default isolation is serializable.
#
# Starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 (lib/pg.sh), stopped by PID.
# Skipped only when PostgreSQL 15 is not installed. Needs CF_METATEST.
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PG_BIN/initdb" ]; then
	echo "test_meta_pg: skipped ($PG_BIN/initdb missing: apt-get install postgresql-15)"
	exit 0
fi
CF_METATEST=${CF_METATEST:?CF_METATEST must name the cf_metatest test tool}
# shellcheck source=tests/system/_common.sh
. "$(dirname "$0")/_common.sh"
# shellcheck source=tests/system/lib/pg.sh
. "$LIB/pg.sh"

MPID=
cleanup() {
	if [ -n "$MPID" ]; then
		kill "$MPID" 2>/dev/null || true
	fi
	pg_stop
	chmod -R u+rwx "$TMP" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# check_output WHAT: no sanitizer report and no password in $TMP/out and $TMP/err.
check_output() {
	if [ "$rc" = 99 ] || [ "$rc" = 98 ] || grep -q 'Sanitizer' "$TMP/err"; then
		fail "sanitizer report from: $1"
	fi
	if [ -n "$PG_PASSWORD" ] && grep -qF "$PG_PASSWORD" "$TMP/out" "$TMP/err"; then
		fail "the database password appears in the output of $1"
	fi
}

# metatest ARGS...: run cf_metatest; output in $TMP/out and $TMP/err, status in $rc.
metatest() {
	rc=0
	"$CF_METATEST" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	check_output "cf_metatest $*"
}

# wait_for PATTERN FILE PID: until a line of FILE matches, while PID runs (30 s at most).
wait_for() {
	for _ in $(seq 1 300); do
		grep -q "$1" "$2" && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$1" "$2"
}

expect_all_passed() {
	[ "$rc" = 0 ] || fail "$1: exit status $rc"
	grep -qE '^[1-9][0-9]* passed, 0 failed$' "$TMP/out" || fail "$1: not every check passed"
	say "$1: $(tail -n 1 "$TMP/out")"
}

say "contract checks on SQLite"
metatest "sqlite:$TMP/meta.db"
expect_all_passed "sqlite"

say "starting PostgreSQL 15"
pg_start "$TMP/pg" || fail "cannot start PostgreSQL"

say "contract checks on PostgreSQL, password from PGPASSWORD"
PGPASSWORD=$PG_PASSWORD metatest "$PG_URL"
expect_all_passed "postgres"
say "the same again on the same database, password in the URI"
metatest "$PG_URL_PW"
expect_all_passed "postgres, second run"
[ "$(pg_psql coffer 'SELECT count(*) FROM schema_version')" = 1 ] ||
	fail "the schema was recorded more than once"
[ "$(pg_psql coffer "SELECT collation_name FROM information_schema.columns
	WHERE table_name = 'objects' AND column_name = 'name'")" = C ] ||
	fail "object names do not sort in byte order"

say "schema: missing, created, current, newer"
pg_createdb empty
E=${PG_URL_PW%/coffer}/empty
metatest --open "$E"
[ "$rc" = 1 ] && grep -q '^error: not found: .*no cofferd schema' "$TMP/out" ||
	fail "a database without the schema is not refused"
[ "$(pg_psql empty "SELECT to_regclass('accounts') IS NULL")" = t ] ||
	fail "opening without create changed the database"
metatest --open --create "$E"
[ "$rc" = 0 ] || fail "cannot create the schema"
metatest --open "$E"
[ "$rc" = 0 ] || fail "a current schema is refused"
metatest --open --create "$E"
[ "$rc" = 0 ] || fail "create over a current schema is refused"
pg_psql empty "INSERT INTO schema_version (version, name) VALUES (99, 'future.sql')"
metatest --open --create "$E"
[ "$rc" = 1 ] && grep -q '^error: unsupported format version: .*newer' "$TMP/out" ||
	fail "a newer schema is not refused"

say "a wrong password: refused, and not shown"
metatest --open "postgres://postgres:not-the-pw-x3q@127.0.0.1:$PG_PORT/coffer"
[ "$rc" = 1 ] && grep -q '^error: system error: database: cannot connect' "$TMP/out" ||
	fail "a wrong password is not refused"
! grep -q 'not-the-pw-x3q' "$TMP/out" "$TMP/err" || fail "the password appears in the error"

say "one handle across a restart of PostgreSQL"
mkfifo "$TMP/go"
"$CF_METATEST" --pause "$PG_URL_PW" <"$TMP/go" >"$TMP/pause.out" 2>"$TMP/pause.err" &
MPID=$!
exec 3>"$TMP/go"
wait_for '^paused$' "$TMP/pause.out" "$MPID" || fail "cf_metatest --pause did not pause"
OLD=$PG_PID
pg_restart || fail "cannot restart PostgreSQL"
[ "$PG_PID" != "$OLD" ] || fail "PostgreSQL did not restart"
echo go >&3
exec 3>&-
rc=0
wait "$MPID" || rc=$?
MPID=
cp "$TMP/pause.out" "$TMP/out"
cp "$TMP/pause.err" "$TMP/err"
check_output "cf_metatest --pause"
expect_all_passed "reconnect"

say "a deadlock: the operation chosen as its victim is tried again"
# psql locks the object row, waits until the purge of cf_metatest waits for that row while
# it holds the account row, then asks for the account row. psql's deadlock_timeout is the
# longer, so the purge's backend finds the cycle (1 s) and is aborted (40P01); the purge
# must be tried again and succeed, and psql must not fail.
mkfifo "$TMP/go2"
"$CF_METATEST" --deadlock "$PG_URL_PW" <"$TMP/go2" >"$TMP/dl.out" 2>"$TMP/dl.err" &
MPID=$!
exec 3>"$TMP/go2"
wait_for '^ready ' "$TMP/dl.out" "$MPID" || fail "cf_metatest --deadlock did not get ready"
A=$(sed -n 's/^ready //p' "$TMP/dl.out")
cat >"$TMP/dl.sql" <<EOF
BEGIN;
SET LOCAL deadlock_timeout = '20s';
UPDATE objects SET size = size WHERE account = '$A' AND name = 'dl-x';
\echo locked
DO \$\$ BEGIN -- until the purge waits for the row (pg_locks is live, unlike pg_stat_activity)
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted);
		PERFORM pg_sleep(0.1);
	END LOOP;
END \$\$;
SELECT 1 FROM accounts WHERE name = '$A' FOR UPDATE;
COMMIT;
EOF
pg_psql coffer - <"$TMP/dl.sql" >"$TMP/psql.out" 2>&1 &
QPID=$!
wait_for '^locked$' "$TMP/psql.out" "$QPID" || fail "psql did not lock the row"
echo go >&3
exec 3>&-
rc=0
wait "$MPID" || rc=$?
MPID=
wait "$QPID" || fail "psql failed: $(cat "$TMP/psql.out")"
cp "$TMP/dl.out" "$TMP/out"
cp "$TMP/dl.err" "$TMP/err"
check_output "cf_metatest --deadlock"
expect_all_passed "deadlock"
grep -q 'deadlock detected' "$PG_DIR/server.log" || fail "no deadlock happened"

say "a database whose default isolation is serializable"
pg_createdb ser
pg_psql ser "ALTER DATABASE ser SET default_transaction_isolation = 'serializable'"
metatest "${PG_URL_PW%/coffer}/ser"
expect_all_passed "serializable by default"

NEW=$PG_PID
pg_stop
! kill -0 "$NEW" 2>/dev/null || fail "PostgreSQL still runs after pg_stop"
say "ok"
