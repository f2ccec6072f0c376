# shellcheck shell=bash
# _common.sh - shared setup for the bash system tests (sourced, not run).
#
# Sets: T (this test's name), COFFER (the binary), LIB (tests/system/lib), PY, TMP (a fresh
# temporary directory removed on exit), COFFER_HOME and COFFER_CACHE (inside TMP), and
# defines:
#   say MSG...          print what is being checked
#   fail MSG...         print "T: FAIL: MSG" (and the last command's output) and exit 1
#   run ARGS...         run coffer with ARGS (prefixed by the command in the array RUN_AS, if
#                       any); stdout in $TMP/out, stderr in $TMP/err, exit status in $rc;
#                       never fails by itself
#   expect_rc N WHAT    fail unless the last run's exit status was N
#   one_line_error WHAT fail unless stderr of the last run is exactly one line "coffer: ..."
#   json_get FIELD      print FIELD of the summary line of a `--json backup` run's stdout
#   treecmp A B [OPT]   compare two trees with lib/treecmp.py, fail on a difference
#   mkrepo DIR          init a repository at DIR (recovery key in DIR.rk)
#   need_cofferd [http] exit 0 ("skipped") when COFFERD_BIN is not set (cofferd not built),
#                       or with http, CF_HTTP (the signed-request test client)
#   serve_cofferd DATA [ARGS...]
#                       start `$COFFERD_BIN serve --data DATA ARGS...` on 127.0.0.1:$SERVE_PORT
#                       (a free port, chosen at the first call; sets SERVE_PORT, URL, SPID;
#                       stderr to $TMP/server.log), wait until it answers; it is stopped on
#                       exit, or by stop_cofferd (a restart keeps the port)
#   serve_account NAME  a new cofferd data directory D=$TMP/server holding account NAME (quota
#                       2G), served by serve_cofferd; sets D, TOKEN (the account's enrollment
#                       token) and R (the account's URL)
#   poll CMD...         retry CMD every 0.1 s for up to 10 s; false if it never succeeds
#   start_proxy PATTERN CMD...
#                       lib/hookproxy.py in front of the cofferd serve_cofferd started: runs
#                       CMD before it forwards the first request matching PATTERN, and does
#                       what the HOOKPROXY_* variables ask; sets PROXY_R, alice's URL through
#                       it; stopped on exit, or by stop_proxy

T=$(basename "$0" .sh)
COFFER=${COFFER_BIN:?COFFER_BIN must name the coffer binary}
CF_TESTS=${CF_TESTS:-$(cd "$(dirname "$0")/.." && pwd)}
LIB=$CF_TESTS/system/lib
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cf_$T.XXXXXX")
trap 'chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
export COFFER_HOME=$TMP/home
export COFFER_CACHE=$TMP/cache
unset COFFER_REPO COFFER_PASSPHRASE_FILE
# ASan: a leak or error must fail the command, and its report must not look like our output.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=98}
rc=0
RUN_AS=()

say() {
	echo "$T: $*"
}

fail() {
	echo "$T: FAIL: $*" >&2
	for f in "$TMP/out" "$TMP/err"; do
		if [ -s "$f" ]; then
			echo "--- $(basename "$f"):" >&2
			cut -c1-400 "$f" | head -30 >&2
		fi
	done
	exit 1
}

run() {
	rc=0
	"${RUN_AS[@]}" "$COFFER" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	if [ "$rc" = 99 ] || [ "$rc" = 98 ] || grep -q 'Sanitizer' "$TMP/err"; then
		fail "sanitizer report from: coffer $*"
	fi
	return 0
}

expect_rc() {
	[ "$rc" = "$1" ] || fail "$2: exit status $rc, want $1"
}

one_line_error() {
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "$1: stderr is not exactly one line"
	grep -q '^coffer: ..*' "$TMP/err" || fail "$1: stderr does not start with 'coffer: '"
}

json_get() {
	"$PY" -c '
import json, sys
summary = None
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        obj = json.loads(line)
        if obj.get("message_type") == "summary":
            summary = obj
if summary is None:
    sys.exit("no summary line")
print(summary[sys.argv[2]])' "$TMP/out" "$1"
}

treecmp() {
	local a=$1 b=$2
	shift 2
	"$PY" "$LIB/treecmp.py" "$a" "$b" --ignore-atime "$@" >"$TMP/cmp" 2>&1 ||
		{
			head -20 "$TMP/cmp" | cut -c1-300 >&2
			fail "restored tree $b differs from $a"
		}
}

need_cofferd() {
	if [ -z "${COFFERD_BIN:-}" ]; then
		say "skipped: COFFERD_BIN is not set (cofferd not built)"
		exit 0
	fi
	if [ "${1:-}" = http ] && [ -z "${CF_HTTP:-}" ]; then
		say "skipped: CF_HTTP is not set"
		exit 0
	fi
}

# poll CMD...: run CMD every 0.1 s until it succeeds, for at most 10 s; false if it never does.
poll() {
	for _ in $(seq 100); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

SPID=""
SERVE_PORT=""
PROXY_PID=""
stop_proxy() {
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null || true
		wait "$PROXY_PID" 2>/dev/null || true
		PROXY_PID=""
	fi
}

start_proxy() {
	local pattern=$1
	shift
	rm -f "$TMP/port" "$TMP/mark"
	"$PY" "$LIB/hookproxy.py" "$TMP/port" "127.0.0.1:$SERVE_PORT" "$pattern" "$TMP/mark" \
		"$@" 2>>"$TMP/proxy.log" &
	PROXY_PID=$!
	poll test -s "$TMP/port" || fail "the proxy did not start: $(tail -3 "$TMP/proxy.log")"
	PROXY_R="http://127.0.0.1:$(cat "$TMP/port")/alice"
}

stop_cofferd() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
		SPID=""
	fi
}

serve_cofferd() {
	local data=$1
	shift
	[ -n "$SERVE_PORT" ] ||
		SERVE_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	URL=http://127.0.0.1:$SERVE_PORT
	"$COFFERD_BIN" serve --data "$data" "$@" --listen "127.0.0.1:$SERVE_PORT" 2>>"$TMP/server.log" &
	SPID=$!
	trap 'stop_proxy; stop_cofferd; chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
	poll curl -sf -o /dev/null "$URL/healthz" 2>/dev/null ||
		fail "cofferd did not start: $(tail -5 "$TMP/server.log")"
}

serve_account() {
	D=$TMP/server
	"$COFFERD_BIN" init --data "$D" >/dev/null
	TOKEN=$("$COFFERD_BIN" admin --data "$D" create-account "$1" --quota 2G)
	serve_cofferd "$D"
	R=$URL/$1
}

mkrepo() {
	run -r "$1" init --recovery-key-file "$1.rk"
	expect_rc 0 "init $1"
}
