#!/bin/bash
# test_crash.sh - a backup killed with SIGKILL at several points (before any pack, after a few
# packs, while reusing the packs of an earlier crash, during an incremental backup) leaves a
# consistent repository with no unfinished snapshot; the next backup succeeds and reuses the
# data already uploaded; check --read-data passes and the restore is identical (P11).
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
MIB=$((1024 * 1024))

npacks() {
	find "$R/packs" -type f | wc -l
}

pack_bytes() {
	find "$R/packs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

nsnaps() {
	find "$R/snapshots" -type f | wc -l
}

# crash_backup WHEN [ARGS]: start a backup, kill -9 it when WHEN (a shell condition) holds.
crash_backup() {
	local when=$1 pid i=0
	shift
	"$COFFER" -r "$R" --json backup "$@" "$S" >"$TMP/crash.out" 2>"$TMP/crash.err" &
	pid=$!
	while ! eval "$when"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" || true
			fail "the backup finished before the crash point ($when)"
		fi
		i=$((i + 1))
		[ "$i" -lt 30000 ] || fail "crash point never reached: $when"
		sleep 0.005
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
}

# After a crash: no new snapshot, and the repository checks clean.
after_crash() {
	local want=$1
	[ "$(nsnaps)" = "$want" ] || fail "$(nsnaps) snapshot objects after the crash, want $want"
	run -r "$R" --json snapshots
	expect_rc 0 "snapshots after a crash"
	n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")
	[ "$n" = "$want" ] || fail "snapshots lists $n after the crash, want $want"
	run -r "$R" check --read-data
	expect_rc 0 "check --read-data after a crash"
}

say "generating 150 MB of random files"
mkdir -p "$S/sub"
for i in 0 1 2 3 4 5 6 7 8 9; do
	head -c $((15 * MIB)) /dev/urandom >"$S/sub/f$i.bin"
done
total=$((150 * MIB))
mkrepo "$R"

say "crash 1: kill -9 as soon as a process has started (before any pack)"
crash_backup 'true'
after_crash 0

say "crash 2: kill -9 once 2 packs are stored"
# shellcheck disable=SC2016 # evaluated in crash_backup
crash_backup '[ "$(npacks)" -ge 2 ]'
after_crash 0
p1=$(npacks)
say "  $p1 packs survived the crash"

say "crash 3: kill -9 during the next backup, once 3 more packs are stored"
# 150 MB make about 9 packs: stay below that even if crash 2 was late.
p3=$((p1 + 3 > 8 ? 8 : p1 + 3))
[ "$p3" -gt "$p1" ] || fail "crash 2 came too late ($p1 packs)"
crash_backup "[ \"\$(npacks)\" -ge $p3 ]"
after_crash 0

say "the backup after the crashes succeeds and reuses what was stored"
before=$(pack_bytes)
run -r "$R" --json backup "$S"
expect_rc 0 "backup after crashes"
added=$(json_get data_added)
snap1=$(json_get snapshot_id)
limit=$((total - before + 32 * MIB))
say "  packs before: $before bytes, data_added: $added, limit: $limit"
[ "$added" -lt "$limit" ] || fail "data_added $added: the data of the crashed runs was not reused"
[ "$(nsnaps)" = 1 ] || fail "want exactly 1 snapshot"
repo_bytes=$(pack_bytes)
[ "$repo_bytes" -lt $((total + total / 8 + 48 * MIB)) ] ||
	fail "the packs hold $repo_bytes bytes for $total bytes of data: crashed runs duplicated it"

say "check --read-data passes and the restore is identical"
run -r "$R" check --read-data
expect_rc 0 "check --read-data"
run -r "$R" restore latest --target "$TMP/r1"
expect_rc 0 "restore"
treecmp "$S" "$TMP/r1$S"
rm -rf "$TMP/r1"

say "crash 4: an incremental backup (2 new files, 1 changed) killed after its first pack"
head -c $((20 * MIB)) /dev/urandom >"$S/new1.bin"
head -c $((20 * MIB)) /dev/urandom >"$S/new2.bin"
printf 'changed' | dd of="$S/sub/f3.bin" bs=1 seek=1000 conv=notrunc status=none
p2=$(npacks)
crash_backup "[ \"\$(npacks)\" -gt $p2 ]"
after_crash 1
run -r "$R" --json snapshots
"$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))[0]["id"] == sys.argv[2]' \
	"$TMP/out" "$snap1" || fail "the first snapshot changed after a crash"

say "the next incremental backup succeeds; the restore is identical"
before=$(pack_bytes)
run -r "$R" --json backup "$S"
expect_rc 0 "incremental backup after a crash"
added=$(json_get data_added)
[ "$(json_get files_new)" = 2 ] || fail "files_new $(json_get files_new), want 2"
[ "$(json_get files_changed)" = 1 ] || fail "files_changed $(json_get files_changed), want 1"
[ "$added" -lt $((40 * MIB + 32 * MIB)) ] || fail "incremental data_added $added is too large"
[ "$(nsnaps)" = 2 ] || fail "want exactly 2 snapshots"
run -r "$R" check --read-data
expect_rc 0 "final check --read-data"
run -r "$R" restore latest --target "$TMP/r2"
expect_rc 0 "final restore"
treecmp "$S" "$TMP/r2$S"

say "ok"
