#!/bin/bash
# test_cli.sh - the command-line contract: usage errors (unknown command or option, missing or
# extra arguments, an option without its value) exit 2; `help`, `help COMMAND` and
# `COMMAND --help` print usage and exit 0 for every command; every error is one line on
# stderr starting with "coffer: "; the repository comes from -r or COFFER_REPO (-r wins) and
# its absence is an error; bad snapshot ids are one-line errors; a successful command prints
# nothing on stderr when stderr is not a terminal.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
COMMANDS="init backup snapshots ls restore diff check forget prune devices recover recovery
version help"

mkdir -p "$S/d"
printf 'hello\n' >"$S/d/file"
mkrepo "$R"
run -r "$R" backup "$S"
expect_rc 0 "backup"
[ ! -s "$TMP/err" ] || fail "a successful backup wrote to stderr (not a terminal)"
run -r "$R" -q backup "$S"
expect_rc 0 "backup -q"
if [ -s "$TMP/out" ] || [ -s "$TMP/err" ]; then
	say "note: backup -q still prints something"
fi

say "help, help COMMAND and COMMAND --help exit 0 and print usage"
run help
expect_rc 0 "help"
grep -q 'usage: coffer' "$TMP/out" || fail "help prints no usage"
run --help
expect_rc 0 "--help"
for c in $COMMANDS; do
	grep -q "coffer $c" "$TMP/out" || fail "coffer --help does not mention '$c'"
done
for c in $COMMANDS; do
	run help "$c"
	expect_rc 0 "help $c"
	grep -q "usage: coffer $c" "$TMP/out" || fail "help $c prints no 'usage: coffer $c'"
	run "$c" --help
	expect_rc 0 "$c --help"
	grep -q "usage: coffer $c" "$TMP/out" || fail "$c --help prints no 'usage: coffer $c'"
	[ ! -s "$TMP/err" ] || fail "$c --help wrote to stderr"
	run -r "$R" "$c" -h
	expect_rc 0 "$c -h"
done

say "usage errors exit 2 with one line on stderr"
usage_error() {
	run "$@"
	expect_rc 2 "coffer $*"
	one_line_error "coffer $*"
}
usage_error frobnicate
usage_error -r "$R" frobnicate
usage_error --bogus snapshots
usage_error -r "$R" snapshots --bogus
usage_error -r "$R" backup --bogus "$S"
usage_error -r "$R" restore latest --target "$TMP/t" --bogus
usage_error -r "$R" backup
usage_error -r "$R" backup --tag
usage_error -r "$R" backup --exclude
usage_error -r "$R" restore latest
usage_error -r "$R" restore --target "$TMP/t"
usage_error -r "$R" restore latest --target
usage_error -r "$R" restore
usage_error -r "$R" diff latest
usage_error -r "$R" diff
usage_error -r "$R" diff latest latest latest
usage_error -r "$R" ls
usage_error -r "$R" ls latest /a /b
usage_error -r "$R" snapshots extra
usage_error -r "$R" snapshots --host
usage_error -r "$R" init --device-name
usage_error -r
usage_error help no-such-command
usage_error version extra
run
expect_rc 2 "no command"
grep -qi 'usage' "$TMP/out" "$TMP/err" || fail "no command: no usage shown"
[ ! -e "$TMP/t" ] || fail "a usage error created the target"

say "no repository given (no -r, no COFFER_REPO): a one-line error, nonzero"
for cmd in snapshots "ls latest" "restore latest --target $TMP/t" check "backup $S" init; do
	# shellcheck disable=SC2086
	run $cmd
	[ "$rc" != 0 ] || fail "'$cmd' without a repository succeeded"
	one_line_error "'$cmd' without a repository"
	grep -qi 'repo' "$TMP/err" || fail "'$cmd' without a repository: the error does not say so"
done

say "COFFER_REPO selects the repository; -r overrides it"
COFFER_REPO=$R run snapshots
expect_rc 0 "COFFER_REPO"
grep -q '^2 snapshots' "$TMP/out" || fail "COFFER_REPO: snapshots does not list the snapshot"
COFFER_REPO=$TMP/no-such-repo run -r "$R" snapshots
expect_rc 0 "-r overrides COFFER_REPO"
COFFER_REPO=$R run -r "$TMP/no-such-repo" snapshots
expect_rc 10 "-r naming a missing repository wins over a valid COFFER_REPO"
COFFER_REPO=$R run --repo "$R" snapshots
expect_rc 0 "--repo"

say "bad snapshot ids are one-line errors"
run -r "$R" --json snapshots
id=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["id"])' "$TMP/out")
[[ $id =~ ^[0-9a-f]{64}$ ]] || fail "snapshot id '$id'"
other=$(printf '%s' "$id" | tr '0-9a-f' '1-9a-f0')
for bad in "${id:0:7}" "${id:0:4}" "${other:0:8}" "$other" zzzzzzzz "" "${id}0" "../${id:0:8}"; do
	run -r "$R" ls "$bad"
	[ "$rc" != 0 ] || fail "ls '$bad' succeeded"
	[ "$rc" != 2 ] || [ -z "$bad" ] || say "note: ls '$bad' is a usage error (exit 2)"
	one_line_error "ls '$bad'"
	run -r "$R" restore "$bad" --target "$TMP/t"
	[ "$rc" != 0 ] || fail "restore '$bad' succeeded"
	one_line_error "restore '$bad'"
	[ ! -e "$TMP/t$S" ] || fail "restore '$bad' wrote files"
done
for good in "$id" "${id:0:8}" "${id:0:12}" latest; do
	run -r "$R" ls "$good"
	expect_rc 0 "ls $good"
	grep -qx "$S/d/file" "$TMP/out" || fail "ls $good does not list the file"
done

say "other errors are one line too"
run -r "$R" backup "$TMP/no-such-path"
[ "$rc" != 0 ] || fail "backup of a missing path succeeded"
grep -q "no-such-path" "$TMP/err" || fail "backup of a missing path does not name it"
grep -v '^coffer: ' "$TMP/err" && fail "backup of a missing path: a stderr line without 'coffer: '"
run -r "$R" ls latest /no/such/path
[ "$rc" != 0 ] || fail "ls of a missing path succeeded"
one_line_error "ls of a missing path"
run -r "$R" --recovery-key-file "$TMP/no-such-file" snapshots
[ "$rc" != 0 ] || fail "a missing recovery key file was accepted"
one_line_error "missing recovery key file"
printf 'junk' >"$TMP/file"
run -r "$TMP/file" snapshots
[ "$rc" != 0 ] || fail "a regular file as the repository was accepted"
one_line_error "a file as the repository"

say "ok"
