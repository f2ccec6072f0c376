#!/bin/bash
# test_big_index.sh - the chunk index lives on disk (COFFER_CACHE/<fingerprint>/index.lmdb,
# docs/format.md 13), so memory does not grow with it: with CF_BIG_INDEX_ENTRIES synthetic
# index entries (cf_bigindex; default 200000) a backup of a CF_BIG_INDEX_TREE_MIB tree
# (default 64) peaks under CF_BIG_INDEX_RSS_KIB of RSS (default 200 MiB; not checked under
# ASan), the first one building the cache, the next ones only looking up. Backups, restore
# and check keep working; new index objects join the cache, and objects a prune deleted with
# their packs leave it; a garbage cache is rebuilt; an unusable cache directory falls back to
# the index in memory; backup, check and restore running at once while the cache is rebuilt
# all succeed.
# The 10-million measurement: CF_BIG_INDEX_ENTRIES=10000000 CF_BIG_INDEX_TREE_MIB=1024.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

BIG=${CF_BIGINDEX:?CF_BIGINDEX must name the cf_bigindex tool}
N=${CF_BIG_INDEX_ENTRIES:-200000}
MIB=${CF_BIG_INDEX_TREE_MIB:-64}
RSS_MAX=${CF_BIG_INDEX_RSS_KIB:-204800}
R=$TMP/repo
S=$TMP/src
ASAN=0
if ldd "$COFFER" 2>/dev/null | grep -q libasan; then
	ASAN=1
fi

# Run coffer ARGS under /usr/bin/time; $rss gets its peak RSS in KiB, $secs its wall time.
timed() {
	RUN_AS=(/usr/bin/time -f "%M %e" -o "$TMP/time")
	run "$@"
	RUN_AS=()
	read -r rss secs <"$TMP/time"
}

check_rss() {
	say "$1: ${secs} s, peak RSS ${rss} KiB"
	if [ "$ASAN" = 0 ] && [ "$rss" -gt "$RSS_MAX" ]; then
		fail "$1: peak RSS ${rss} KiB is over ${RSS_MAX} KiB"
	fi
}

mkrepo "$R"
say "$N synthetic index entries"
"$BIG" "$R" "$N" >"$TMP/out" 2>"$TMP/err" || fail "cf_bigindex"
run -r "$R" --json devices list
expect_rc 0 "devices list"
FP=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$TMP/out")
DB=$COFFER_CACHE/$FP/index.lmdb

say "a tree of $MIB MiB"
mkdir -p "$S/sub"
for ((i = 0; i < MIB / 8; i++)); do
	head -c 8388608 /dev/urandom >"$S/f$i"
done
seq 1 100000 >"$S/sub/text"
cp "$S/sub/text" "$S/sub/copy"

timed -r "$R" -q backup "$S"
expect_rc 0 "first backup"
check_rss "first backup (builds the cache)"
[ -s "$DB" ] || fail "no cache at $DB"
say "cache: $(du -k "$DB" | cut -f1) KiB"

timed -r "$R" -q backup "$S"
expect_rc 0 "unchanged backup"
check_rss "unchanged backup"

head -c 4194304 /dev/urandom >"$S/new"
echo more >>"$S/sub/text"
timed -r "$R" --json backup "$S"
expect_rc 0 "third backup"
check_rss "backup with changes"
added=$(json_get data_added)
[ "$added" -lt 8388608 ] || fail "third backup added $added bytes: deduplication failed"

say "restore and check"
run -r "$R" restore latest --target "$TMP/out1"
expect_rc 0 "restore"
treecmp "$S" "$TMP/out1$S"
run -r "$R" check
expect_rc 0 "check"

say "new index objects join the cache"
"$BIG" "$R" 5000 >"$TMP/out" 2>"$TMP/err" || fail "cf_bigindex (more)"
run -r "$R" -q backup "$S"
expect_rc 0 "backup after more entries"
run -r "$R" check
expect_rc 0 "check after more entries"

say "index objects pruned with their packs: taken out of the cache"
(cd "$R" && find index packs -type f | sort) >"$TMP/before"
"$BIG" "$R" 3000 1024 >"$TMP/out" 2>"$TMP/err" || fail "cf_bigindex (to prune)"
(cd "$R" && find index packs -type f | sort) | comm -13 "$TMP/before" - >"$TMP/pruned"
[ "$(grep -c '^index/' "$TMP/pruned")" = 3 ] || fail "cf_bigindex did not write 3 objects"
run -r "$R" -q backup "$S"
expect_rc 0 "backup before the prune"
(cd "$R" && xargs rm -- <"$TMP/pruned")
run -r "$R" -q backup "$S"
expect_rc 0 "backup after the prune"
run -r "$R" check
expect_rc 0 "check after the prune"
run -r "$R" restore latest --target "$TMP/out-pruned"
expect_rc 0 "restore after the prune"
treecmp "$S" "$TMP/out-pruned$S"

say "a garbage cache is rebuilt"
head -c 65536 /dev/urandom >"$DB"
run -r "$R" -q backup "$S"
expect_rc 0 "backup over a garbage cache"
run -r "$R" check
expect_rc 0 "check after the rebuild"

say "an unusable cache directory: the index in memory"
touch "$TMP/not-a-dir"
COFFER_CACHE=$TMP/not-a-dir run -r "$R" -q backup "$S"
expect_rc 0 "backup without a cache"
COFFER_CACHE=$TMP/not-a-dir run -r "$R" restore latest --target "$TMP/out2"
expect_rc 0 "restore without a cache"
treecmp "$S" "$TMP/out2$S"

say "backup, check and restore at once, over a rebuild"
rm -f "$DB"
echo changed >"$S/sub/copy"
pids=()
for what in backup check restore; do
	case $what in
	backup) args=(-q backup "$S") ;;
	check) args=(check) ;;
	restore) args=(restore latest --target "$TMP/out3") ;;
	esac
	"$COFFER" -r "$R" "${args[@]}" >"$TMP/$what.out" 2>"$TMP/$what.err" &
	pids+=($!)
done
for i in 0 1 2; do
	wait "${pids[$i]}" || {
		cat "$TMP"/*.err >&2
		fail "concurrent run $i failed"
	}
done
run -r "$R" check
expect_rc 0 "check after the concurrent runs"
say "ok"
