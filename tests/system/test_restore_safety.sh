#!/bin/bash
# test_restore_safety.sh - a restore never writes outside its target: symlinks planted in the
# target where the restore will create a directory (the first component of the snapshot's
# absolute path, a deeper one, a directory inside the snapshot, the directory of a hard
# link's second name) or a file (pointing at an existing outside file, or dangling) are
# replaced, not followed. Nothing outside changes (contents, modes, times) and the restored
# tree is identical to the source.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
O=$TMP/outside

say "a source tree with nested directories, files, a hard link pair and symlinks"
mkdir -p "$S/sub/deeper" "$S/other" "$S/links"
printf 'file content\n' >"$S/sub/file"
printf 'deeper content\n' >"$S/sub/deeper/file"
printf 'new file\n' >"$S/sub/new"
printf 'hard linked\n' >"$S/sub/h1"
ln "$S/sub/h1" "$S/other/h2"
ln -s "$O/abs-target" "$S/links/abs"
ln -s ../sub/file "$S/links/rel"
chmod 0750 "$S/sub"
touch -d '2011-11-11 11:11:11' "$S/sub/file" "$S/sub/deeper" "$S/other"
touch -d '2011-11-11 11:11:11' "$S/sub"
mkrepo "$R"
run -r "$R" backup "$S"
expect_rc 0 "backup"

# The outside area: one directory per planted link, and a victim file.
mkdir -p "$O"/{d1,d2,d3,d4,d5,d6}
printf 'victim: must not change\n' >"$O/d4/victim"
chmod 0640 "$O/d4/victim"
touch -d '2001-01-01' "$O"/d? "$O/d4/victim"
snapshot_outside() {
	(cd "$O" && find . -printf '%p %y %m %s %T@ %l\n' | sort && find . -type f -exec sha256sum {} + | sort)
}
snapshot_outside >"$TMP/outside.before"

# Components of the source path under the target: /a/b/src -> a, a/b.
rel=${S#/}
c1=${rel%%/*}
c2=${rel#*/}
c2=$c1/${c2%%/*}

plant_and_restore() {
	local what=$1 link=$2 dest=$3 t=$TMP/t-$4
	mkdir -p "$t/$(dirname "$link")"
	ln -s "$dest" "$t/$link"
	say "planted $what: $link -> $dest"
	run -r "$R" restore latest --target "$t"
	expect_rc 0 "restore with a planted symlink ($what)"
	snapshot_outside >"$TMP/outside.after"
	cmp -s "$TMP/outside.before" "$TMP/outside.after" || {
		diff "$TMP/outside.before" "$TMP/outside.after" >&2 || true
		fail "the restore changed something outside the target ($what)"
	}
	if [ ! -L "/$link" ]; then
		[ ! -L "$t/$link" ] || fail "the planted symlink $link is still there ($what)"
	fi
	treecmp "$S" "$t$S"
}

plant_and_restore "first path component" "$c1" "$O/d1" 1
plant_and_restore "second path component (relative link)" "$c2" "../../outside/d2" 2
if [ "$c1" != "${TMP#/}" ] && [ "${TMP#/}" != "$c2" ]; then
	plant_and_restore "the temporary directory" "${TMP#/}" "$O/d2" 2b
fi
plant_and_restore "a directory of the snapshot" "$rel/sub" "$O/d3" 3
plant_and_restore "a directory below it" "$rel/sub/deeper" "$O/d3" 3b
plant_and_restore "a file, pointing at an outside file" "$rel/sub/file" "$O/d4/victim" 4
plant_and_restore "a file, dangling into an outside directory" "$rel/sub/new" "$O/d5/created" 5
plant_and_restore "the directory of a hard link's second name" "$rel/other" "$O/d6" 6
plant_and_restore "a symlink the snapshot also holds" "$rel/links/abs" "$O/d1" 7

say "--include through a planted symlink"
t=$TMP/t-inc
mkdir -p "$t/$rel"
ln -s "$O/d3" "$t/$rel/sub"
run -r "$R" restore latest --target "$t" --include "$S/sub/deeper"
expect_rc 0 "restore --include with a planted symlink"
snapshot_outside >"$TMP/outside.after"
cmp -s "$TMP/outside.before" "$TMP/outside.after" || fail "--include restore wrote outside"
cmp "$S/sub/deeper/file" "$t$S/sub/deeper/file" || fail "--include restored wrong content"

say "all planted links at once"
t=$TMP/t-all
mkdir -p "$t/$rel/sub" "$t/$rel/links"
ln -s "$O/d4/victim" "$t/$rel/sub/file"
ln -s "$O/d5/created" "$t/$rel/sub/new"
ln -s "$O/d3" "$t/$rel/sub/deeper"
ln -s "$O/d6" "$t/$rel/other"
ln -s "$O/d1" "$t/$rel/links/abs"
run -r "$R" restore latest --target "$t"
expect_rc 0 "restore with all planted symlinks"
snapshot_outside >"$TMP/outside.after"
cmp -s "$TMP/outside.before" "$TMP/outside.after" || fail "the restore wrote outside the target"
treecmp "$S" "$t$S"

say "ok"
