#!/bin/sh
# demo.sh - the main job end to end: back up a real directory of this machine, restore it
# elsewhere, compare the two trees, and show that the repository holds no plaintext.
set -eu
COFFER=${1:-build/coffer}
SRC=${DEMO_SRC:-/usr/share/doc}
work=$(mktemp -d /tmp/coffer-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export COFFER_HOME="$work/home" COFFER_CACHE="$work/cache"
repo="$work/repo"

say() { printf '\n== %s\n' "$*"; }

say "init: a new repository in $repo, device identity in \$COFFER_HOME"
"$COFFER" -r "$repo" init --device-name demo --recovery-key-file "$work/recovery.txt"

say "backup $SRC ($(du -sh "$SRC" | cut -f1), $(find "$SRC" | wc -l) entries)"
"$COFFER" -r "$repo" backup "$SRC"

say "second backup: nothing changed, nothing is read again"
"$COFFER" -r "$repo" backup "$SRC"

say "snapshots"
"$COFFER" -r "$repo" snapshots

say "restore latest into $work/restore"
"$COFFER" -r "$repo" restore latest --target "$work/restore"

say "compare the original and the restored tree (diff -r, and owners/modes via find)"
diff -r --no-dereference "$SRC" "$work/restore$SRC"
(cd "$SRC" && find . -printf '%M %U %G %T@ %p\n' | sort) >"$work/a.lst"
(cd "$work/restore$SRC" && find . -printf '%M %U %G %T@ %p\n' | sort) >"$work/b.lst"
cmp "$work/a.lst" "$work/b.lst"
echo "identical: $(wc -l <"$work/a.lst") entries"

say "verify every byte of the repository"
"$COFFER" -r "$repo" check --read-data

say "the repository holds no plaintext: search it for file names and contents"
name=$(find "$SRC" -type f -name '*.gz' -prune -o -type f -size +2k -print | head -n 1)
base=$(basename "$name")
line=$(grep -a -m 1 -E '.{24,}' "$name" | head -c 40 || true)
for marker in "$base" "$line"; do
	[ -n "$marker" ] || continue
	if grep -r -F -q -- "$marker" "$repo"; then
		echo "FOUND plaintext '$marker' in the repository" >&2
		exit 1
	fi
	echo "not found in the repository: '$marker'"
done
echo "repository: $(find "$repo" -type f | wc -l) files, $(du -sh "$repo" | cut -f1): packs, index, snapshots, device chain, key slots"
say "demo finished: backup, restore, comparison and plaintext scan all passed"
