#!/bin/bash
# test_ixdb_readonly.sh - the chunk index cache (COFFER_CACHE/<fingerprint>/index.lmdb,
# docs/format.md 13) of a process that cannot write it: an unprivileged user (uid 65534)
# runs check and restore against a cache made by root in a directory it cannot write.
#   (a) the cache is up to date: it is used read-only (restore works even when the user
#       cannot read the index objects, which only the cache then gives);
#   (b) the cache lacks an index object (a backup by root with another cache), or is missing
#       in a directory the user cannot write: the index is built in memory;
#   (c) the cache is garbage (readable or not): the index is built in memory.
# The cache is never changed by the user. Needs root to switch users with setpriv; skipped
# (exit 0) otherwise.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

if [ "$(id -u)" != 0 ]; then
	say "SKIP: not root (needs setpriv to run coffer as an unprivileged user)"
	exit 0
fi
if ! command -v setpriv >/dev/null; then
	say "SKIP: setpriv is not installed"
	exit 0
fi
U=65534
AS_USER=(setpriv "--reuid=$U" "--regid=$U" --clear-groups)
if ! "${AS_USER[@]}" test -x "$COFFER"; then
	say "SKIP: uid $U cannot execute $COFFER"
	exit 0
fi

chmod 0755 "$TMP"
R=$TMP/repo
S=$TMP/src
UHOME=$TMP/uhome

# as_user ARGS...: coffer as uid $U with its own copy of COFFER_HOME and root's cache.
as_user() {
	RUN_AS=(env "COFFER_HOME=$UHOME" "${AS_USER[@]}")
	run "$@"
	RUN_AS=()
}

# user_restore WHAT DIR: restore latest as uid $U into a fresh DIR and compare it with $S.
user_restore() {
	rm -rf "$2"
	mkdir "$2"
	chown "$U:$U" "$2"
	as_user -r "$R" restore latest --target "$2"
	expect_rc 0 "$1: restore as uid $U"
	treecmp "$S" "$2$S" --no-owner
}

# user_check WHAT: check as uid $U.
user_check() {
	as_user -r "$R" check
	expect_rc 0 "$1: check as uid $U"
}

# readable: the repository readable by everyone (root's files are private).
readable() {
	chmod -R a+rX "$R"
}

# cache_sum: what the cache directory holds, to show the user changed nothing.
cache_sum() {
	find "$COFFER_CACHE" -type f -print0 | sort -z | xargs -0r sha256sum
	find "$COFFER_CACHE" -printf '%p %m %s\n' | sort
}

say "a repository and a backup by root; the cache made by root"
mkdir -p "$S/sub"
head -c 300000 /dev/urandom >"$S/rand"
seq 1 20000 >"$S/sub/text"
mkrepo "$R"
run -r "$R" -q backup "$S"
expect_rc 0 "backup"
run -r "$R" check # the cache then holds the index objects the backup wrote too
expect_rc 0 "check"
run -r "$R" --json devices list
expect_rc 0 "devices list"
FP=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$TMP/out")
DB=$COFFER_CACHE/$FP/index.lmdb
[ -s "$DB" ] || fail "no cache at $DB"
cp -a "$COFFER_HOME" "$UHOME"
chown -R "$U:$U" "$UHOME"
readable
# root's cache: readable by the user, no directory or file in it writable by the user
chmod -R a+rX,go-w "$COFFER_CACHE"
"${AS_USER[@]}" test -r "$DB" || fail "uid $U cannot read $DB"
! "${AS_USER[@]}" test -w "$DB" || fail "uid $U can write $DB"
! "${AS_USER[@]}" test -w "$(dirname "$DB")" || fail "uid $U can write $(dirname "$DB")"
cache_sum >"$TMP/sum0"

say "(a) an up-to-date cache the user cannot write: used read-only"
user_check "(a)"
user_restore "(a)" "$TMP/out-a"
# only the cache holds the index now: the objects themselves are unreadable to the user
chmod go-r "$R"/index/*
user_restore "(a) without the index objects" "$TMP/out-a2"
readable
cache_sum >"$TMP/sum1"
cmp -s "$TMP/sum0" "$TMP/sum1" || fail "(a): the cache changed"

say "(b) a stale cache: a new backup by root with another cache"
echo "changed" >>"$S/sub/text"
head -c 100000 /dev/urandom >"$S/new"
COFFER_CACHE=$TMP/cache-other run -r "$R" -q backup "$S"
expect_rc 0 "backup with another cache"
readable
user_check "(b)"
user_restore "(b)" "$TMP/out-b"
cache_sum >"$TMP/sum2"
cmp -s "$TMP/sum0" "$TMP/sum2" || fail "(b): the cache changed"

say "(b) no cache, in a directory the user cannot write"
rm -rf "${COFFER_CACHE:?}/$FP"
user_check "(b) no cache"
user_restore "(b) no cache" "$TMP/out-b2"
[ ! -e "$COFFER_CACHE/$FP" ] || fail "(b): uid $U created $COFFER_CACHE/$FP"

say "(c) a garbage cache the user cannot write"
mkdir -m 0755 "$COFFER_CACHE/$FP"
head -c 65536 /dev/urandom >"$DB"
chmod 0644 "$DB"
cache_sum >"$TMP/sum3"
user_check "(c)"
user_restore "(c)" "$TMP/out-c"
chmod 0600 "$DB"
user_check "(c) unreadable"
user_restore "(c) unreadable" "$TMP/out-c2"
chmod 0644 "$DB"
cache_sum >"$TMP/sum4"
cmp -s "$TMP/sum3" "$TMP/sum4" || fail "(c): the garbage cache changed"

say "root still uses and repairs the cache"
run -r "$R" check
expect_rc 0 "check as root"
run -r "$R" restore latest --target "$TMP/out-root"
expect_rc 0 "restore as root"
treecmp "$S" "$TMP/out-root$S"
cmp -s "$TMP/sum3" <(cache_sum) && fail "root did not rebuild the garbage cache"
say "ok"
