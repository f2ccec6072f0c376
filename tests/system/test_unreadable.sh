#!/bin/bash
# test_unreadable.sh - a backup by an unprivileged user of a tree holding a file and a
# directory it cannot read still writes a snapshot, exits 3 and names each unreadable item on
# stderr (and in --json as an error item); everything else restores identically. Needs root
# to switch to uid 65534 with setpriv; skipped (exit 0) otherwise.
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
RUN_AS=(setpriv "--reuid=$U" "--regid=$U" --clear-groups)
if ! "${RUN_AS[@]}" test -x "$COFFER"; then
	say "SKIP: uid $U cannot execute $COFFER"
	exit 0
fi

chmod 0777 "$TMP"
R=$TMP/repo
S=$TMP/src

say "a tree made by uid $U (mkhostile's unprivileged parts) with a mode 000 file and directory"
"${RUN_AS[@]}" "$PY" "$LIB/mkhostile.py" "$S" --seed 31 --small
"${RUN_AS[@]}" mkdir -p "$S/locked/secret-dir" "$S/locked/open"
# shellcheck disable=SC2016 # expanded by the inner sh
"${RUN_AS[@]}" sh -c 'printf "cannot read me\n" >"$1/locked/secret-file"
	printf "inside\n" >"$1/locked/secret-dir/inside"
	printf "readable\n" >"$1/locked/open/readable"
	printf "after\n" >"$1/locked/zz-after"
	chmod 0000 "$1/locked/secret-file" "$1/locked/secret-dir"' sh "$S"
[ "$(stat -c %u "$S/locked/secret-file")" = $U ] || fail "the tree is not owned by uid $U"

say "init and backup as uid $U: exit 3, each unreadable item named"
run -r "$R" init --recovery-key-file "$R.rk"
expect_rc 0 "init as uid $U"
[ "$(stat -c %u "$R/chain")" = $U ] || fail "the repository was not created by uid $U"
run -r "$R" backup "$S"
expect_rc 3 "backup with unreadable items"
grep -q "$S/locked/secret-file" "$TMP/err" || fail "the unreadable file is not named on stderr"
grep -q "$S/locked/secret-dir" "$TMP/err" || fail "the unreadable directory is not named on stderr"
grep -v '^coffer: ' "$TMP/err" && fail "a stderr line does not start with 'coffer: '"
grep "$S/locked/open\|zz-after" "$TMP/err" && fail "a readable item was reported as unreadable"
run -r "$R" --json backup "$S"
expect_rc 3 "backup --json with unreadable items"
"$PY" - "$TMP/out" "$S" <<'EOF' || fail "backup --json does not report each unreadable item"
import json, sys
src = sys.argv[2]
items = set()
summary = None
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("message_type") == "error":
        items.add(o.get("item"))
    if o.get("message_type") == "summary":
        summary = o
want = {src + "/locked/secret-file", src + "/locked/secret-dir"}
if not want <= items:
    sys.exit("error items %r, want at least %r" % (sorted(items), sorted(want)))
if summary is None or len(summary.get("snapshot_id", "")) != 64:
    sys.exit("no summary with a snapshot id")
EOF

say "both snapshots exist and the readable part restores identically"
run -r "$R" --json snapshots
expect_rc 0 "snapshots"
[ "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" = 2 ] ||
	fail "want 2 snapshots"
run -r "$R" restore latest --target "$TMP/r"
expect_rc 0 "restore as uid $U"
for p in locked/open/readable locked/zz-after; do
	[ -f "$TMP/r$S/$p" ] || fail "$p, next to the unreadable items, was not restored"
done
[ ! -e "$TMP/r$S/locked/secret-file" ] || [ ! -s "$TMP/r$S/locked/secret-file" ] ||
	fail "the unreadable file was restored with content"
[ ! -e "$TMP/r$S/locked/secret-dir/inside" ] || fail "the unreadable directory's content appeared"
# The restore ran as uid 65534: owners are all $U, so they compare; the locked
# directory's listing differs by the unreadable entries only.
"$PY" "$LIB/treecmp.py" "$S" "$TMP/r$S" --ignore-atime --ignore-sockets --exclude locked \
	>"$TMP/cmp" 2>&1 || {
	head -20 "$TMP/cmp" >&2
	fail "the readable part of the tree does not restore identically"
}
treecmp "$S/locked/open" "$TMP/r$S/locked/open"
cmp "$S/locked/zz-after" "$TMP/r$S/locked/zz-after" || fail "zz-after differs"

say "ok"
