# shellcheck shell=bash
# shellcheck disable=SC2034 # the PG_* variables are for the tests that source this
# pg.sh - a throwaway PostgreSQL 15 cluster for system tests (sourced, not run).
#
# The cluster listens on 127.0.0.1 only, at a free port, with its unix socket in its own
# directory; durability is off (fsync, synchronous_commit, full_page_writes), the data being
# thrown away. TCP logins need the password (scram-sha-256); socket logins are trusted.
# PostgreSQL refuses to run as root: as root everything runs as the 'postgres' user of the
# Debian package (runuser), otherwise as the current user.
#
#   pg_available      true when $PG_BIN/initdb exists (tests skip cleanly otherwise)
#   pg_start DIR      initdb into DIR (must not exist; its parent is made traversable for
#                     the postgres user when we are root), start the server, create the
#                     database "coffer". Sets PG_DIR, PG_PORT, PG_PID, PG_PASSWORD, PG_URL
#                     (postgres://postgres@127.0.0.1:PORT/coffer: give the password with
#                     PGPASSWORD=$PG_PASSWORD) and PG_URL_PW (the same URL with the password).
#                     Returns non-zero with the server log on stderr when it cannot start.
#   pg_stop           stop the server started by pg_start (fast shutdown, by PID) and wait
#                     until it is gone (SIGKILL after 10 s); a no-op when none runs
#   pg_restart        pg_stop, then start the same cluster again on the same port
#   pg_createdb NAME  another database
#   pg_psql DB SQL    run SQL in DB over the socket (SQL "-": a script on stdin); prints the
#                     rows unaligned; stops at the first error (exit status 3)
#
# A test sources this after _common.sh and stops the server before TMP is removed:
#   trap 'pg_stop; rm -rf "$TMP"' EXIT

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=
PG_PORT=
PG_PID=
PG_PASSWORD=
PG_URL=
PG_URL_PW=

pg_available() {
	[ -x "$PG_BIN/initdb" ]
}

_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

_pg_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

_pg_launch() {
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -o \
		"-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start >/dev/null || return 1
	PG_PID=$(head -n 1 "$PG_DIR/data/postmaster.pid")
	[ -n "$PG_PID" ]
}

_pg_init() {
	local dir=$1
	mkdir "$dir" || return 1
	PG_DIR=$(cd "$dir" && pwd)
	PG_PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile"
	if [ "$(id -u)" = 0 ]; then
		chmod o+x "$(dirname "$PG_DIR")"
		chown -R postgres: "$PG_DIR"
	fi
	chmod 700 "$PG_DIR"
	_pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
		>"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
	rm -f "$PG_DIR/pwfile"
}

pg_start() {
	_pg_init "$1" || return 1
	# the port is free when picked, but another process may take it first: try again
	for _ in 1 2 3; do
		PG_PORT=$(_pg_free_port) || return 1
		if _pg_launch; then
			PG_URL=postgres://postgres@127.0.0.1:$PG_PORT/coffer
			PG_URL_PW=postgres://postgres:$PG_PASSWORD@127.0.0.1:$PG_PORT/coffer
			pg_createdb coffer
			return
		fi
	done
	tail -n 20 "$PG_DIR/server.log" >&2
	return 1
}

pg_stop() {
	[ -n "$PG_PID" ] || return 0
	if kill -INT "$PG_PID" 2>/dev/null; then
		for _ in $(seq 1 100); do
			kill -0 "$PG_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PG_PID" 2>/dev/null || true
	fi
	PG_PID=
}

pg_restart() {
	pg_stop
	_pg_launch || { tail -n 20 "$PG_DIR/server.log" >&2; return 1; }
}

pg_createdb() {
	_pg_as "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U postgres "$1"
}

pg_psql() {
	local src=(-c "$2")
	[ "$2" != - ] || src=(-f -)
	_pg_as "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" \
		-U postgres -d "$1" "${src[@]}"
}
