#!/bin/bash
# test_resume.sh - resuming an interrupted backup without reading again what it stored
# (the files cache, docs/format.md 13; restic#2280): a backup killed with SIGKILL after
# the files cache recorded some files; the next backup takes those files from the cache
# (files_cached > 0, bytes_read < the data's size), the restore is identical and check
# --read-data passes. Must-fail siblings: a cached file changed in place with its size and
# mtime put back is read again (ctime), and files whose chunks a prune deleted are read again.
# A crash inside a large file, sparse or not: the next backup reads only what was not stored
# (a partial entry), unless the file changed since.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
MIB=$((1024 * 1024))
FC=""

npacks() {
	find "$R/packs" -type f | wc -l
}

# True once files.lmdb was written 0.15 s after it was first seen: the open writes it at
# the start of the backup, the first entries no sooner than 250 ms later.
fc_first=""
fc_written() {
	local m
	FC=$(find "$COFFER_CACHE" -name files.lmdb 2>/dev/null | head -1)
	[ -n "$FC" ] && [ -s "$FC" ] || return 1
	m=$(stat -c %.3Y "$FC")
	[ -n "$fc_first" ] || fc_first=$m
	"$PY" -c 'import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) >= 0.15 else 1)' \
		"$fc_first" "$m"
}

# True once FC_PACKS (default 2) packs are stored and files.lmdb was written after that: with
# one file larger than that, the commit holds a partial entry for it.
fc_after_packs=""
fc_partial() {
	local m
	[ "$(npacks)" -ge "${FC_PACKS:-2}" ] || return 1
	FC=$(find "$COFFER_CACHE" -name files.lmdb 2>/dev/null | head -1)
	[ -n "$FC" ] && [ -s "$FC" ] || return 1
	m=$(stat -c %.9Y "$FC")
	[ -n "$fc_after_packs" ] || fc_after_packs=$m
	[ "$m" != "$fc_after_packs" ]
}

# crash_backup [COND]: start a backup of $S, kill -9 it once COND (default fc_written) holds.
crash_backup() {
	local pid i=0 cond=${1:-fc_written}
	fc_first=""
	fc_after_packs=""
	"$COFFER" -r "$R" --json backup "$S" >"$TMP/crash.out" 2>"$TMP/crash.err" &
	pid=$!
	while ! "$cond"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" || true
			fail "the backup finished before the files cache was written"
		fi
		i=$((i + 1))
		[ "$i" -lt 20000 ] || fail "the files cache was never written"
		sleep 0.005
	done
	sleep 0.1 # the data pages change the file's mtime; let the commit finish
	kill -9 "$pid" 2>/dev/null || fail "the backup ended before the crash point ($cond)"
	wait "$pid" 2>/dev/null || true
	[ -z "$(find "$R/snapshots" -type f)" ] || fail "a snapshot was written before the crash"
}

# NBIG files of 16 MiB: enough that a backup outlasts the files cache's first commit (250 ms)
# by a margin (with 12, a release build finished before the crash point once sealing got
# faster).
NBIG=24
make_source() {
	rm -rf "$S"
	mkdir -p "$S/big" "$S/small"
	for i in $(seq 0 $((NBIG - 1))); do
		head -c $((16 * MIB)) /dev/urandom >"$S/big/f$i.bin"
	done
	for i in $(seq 1 200); do
		head -c $((i * 97)) /dev/urandom | base64 >"$S/small/t$i.txt"
	done
	sleep 0.1 # older than the racy-entry margin
}

total_bytes() {
	find "$S" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

check_restore() {
	run -r "$R" check --read-data
	expect_rc 0 "check --read-data ($1)"
	rm -rf "$TMP/r"
	run -r "$R" restore latest --target "$TMP/r"
	expect_rc 0 "restore ($1)"
	treecmp "$S" "$TMP/r$S"
}

# resumed_inside WHAT SIZE [SKIPPED]: crash a backup of $S (one file of SIZE bytes) inside the
# file, back up again, and fail unless at least SKIPPED bytes (default 16 MiB) of it were not
# read again.
resumed_inside() {
	FC_PACKS=${FC_PACKS:-2} crash_backup fc_partial
	run -r "$R" --json backup "$S"
	expect_rc 0 "backup after a crash inside $1"
	read=$(json_get bytes_read)
	say "  $read of $2 bytes read again"
	[ "$read" -le $(($2 - ${3:-$((16 * MIB))})) ] ||
		fail "bytes_read $read: the stored part of $1 was read again"
}

mkrepo "$R"

say "round 1: a crash, then a prune that deletes the crashed run's packs"
make_source
total=$(total_bytes)
crash_backup
run -r "$R" prune --grace 0
expect_rc 0 "prune after the crash (condemn)"
run -r "$R" prune --grace 0
expect_rc 0 "prune after the crash (delete)"
# a pack stored without its index object may survive (the next backup adopts it); no pack
# an index object names does
[ -z "$(find "$R/index" -type f)" ] || fail "index objects left: the crashed run was not pruned"
run -r "$R" --json backup "$S"
expect_rc 0 "backup after crash and prune"
[ "$(json_get files_cached)" = 0 ] ||
	fail "files_cached $(json_get files_cached): entries whose chunks were pruned were used"
[ "$(json_get bytes_read)" = "$total" ] || fail "bytes_read $(json_get bytes_read), want $total"
check_restore "after crash and prune"

say "round 2: a crash, then the next backup does not read again what was stored"
rm -rf "$R" "$R.rk" "$COFFER_CACHE"
mkrepo "$R"
make_source
total=$(total_bytes)
crash_backup
run -r "$R" --json backup "$S"
expect_rc 0 "backup after the crash"
cached=$(json_get files_cached)
read=$(json_get bytes_read)
say "  $cached files from the files cache, $read of $total bytes read"
[ "$read" -lt "$total" ] || fail "bytes_read $read: everything was read again"
[ "$(json_get files_new)" = "$(find "$S" -type f | wc -l)" ] || fail "files_new $(json_get files_new)"
check_restore "after the crash"

say "round 2b: without a parent, cached files are not read; one changed in place is (ctime)"
rm -rf "$R" "$R.rk" "$COFFER_CACHE"
mkrepo "$R"
run -r "$R" --json backup "$S/big"
expect_rc 0 "backup of big/ alone"
mt=$(stat -c %Y "$S/big/f0.bin")
printf 'CHANGED' | dd of="$S/big/f0.bin" bs=1 seek=4096 conv=notrunc status=none
touch -d "@$mt" "$S/big/f0.bin"
small=$(find "$S/small" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
run -r "$R" --json backup "$S" # other paths: no parent
expect_rc 0 "backup of the whole source"
[ "$(json_get files_cached)" = $((NBIG - 1)) ] ||
	fail "files_cached $(json_get files_cached), want $((NBIG - 1))"
[ "$(json_get bytes_read)" = $((16 * MIB + small)) ] ||
	fail "bytes_read $(json_get bytes_read), want $((16 * MIB + small)) (f0 and small/)"
check_restore "after a change that kept size and mtime"

say "round 3: a crash while one large file is read; the next backup reads only the rest"
rm -rf "$R" "$R.rk" "$COFFER_CACHE" "$S"
mkrepo "$R"
mkdir -p "$S"
head -c $((256 * MIB)) /dev/urandom >"$S/image.bin"
sleep 0.1
resumed_inside "a large file" $((256 * MIB))
[ "$(json_get files_cached)" = 0 ] || fail "a partly stored file counted as cached"
check_restore "after a crash inside a large file"

say "round 4: the large file changed in place since the crash is read in full"
rm -rf "$R" "$R.rk" "$COFFER_CACHE"
mkrepo "$R"
crash_backup fc_partial
mt=$(stat -c %Y "$S/image.bin")
printf 'CHANGED' | dd of="$S/image.bin" bs=1 seek=4096 conv=notrunc status=none
touch -d "@$mt" "$S/image.bin"
run -r "$R" --json backup "$S"
expect_rc 0 "backup after a crash and a change"
[ "$(json_get bytes_read)" = $((256 * MIB)) ] ||
	fail "bytes_read $(json_get bytes_read): a changed file's old chunks were used"
check_restore "after a crash and a change"

say "round 5: a crash inside a sparse file: the stored part, holes included, is not read again"
rm -rf "$R" "$R.rk" "$COFFER_CACHE" "$S"
mkrepo "$R"
mkdir -p "$S"
truncate -s $((640 * MIB)) "$S/disk.img"
# 1 MiB of data, a hole to 64 MiB, then 32 MiB of data every 64 MiB; the last 32 MiB a hole.
# No pack is stored before the first hole is passed, so every partial entry holds that hole.
for at in 0 64 128 192 256 320 384 448 512 576; do
	head -c $((at == 0 ? MIB : 32 * MIB)) /dev/urandom |
		dd of="$S/disk.img" bs=1M seek="$at" conv=notrunc iflag=fullblock status=none
done
[ "$(($(stat -c '%b * %B' "$S/disk.img")))" -lt $((640 * MIB)) ] || fail "disk.img is not sparse"
sleep 0.1
# one pack is enough: it cannot be stored before the first hole is passed
FC_PACKS=1 resumed_inside "a sparse file" $((640 * MIB)) $((64 * MIB)) # holes count as read
check_restore "after a crash inside a sparse file"

say "an unchanged backup reads nothing, with or without the local cache (the parent)"
run -r "$R" --json backup "$S"
expect_rc 0 "unchanged backup"
[ "$(json_get bytes_read)" = 0 ] || fail "unchanged backup read $(json_get bytes_read) bytes"
rm -rf "$COFFER_CACHE"
run -r "$R" --json backup --dry-run "$S"
expect_rc 0 "dry run without a cache"
[ "$(json_get bytes_read)" = 0 ] || fail "dry run read $(json_get bytes_read) bytes"

say "a damaged files cache is replaced, never trusted"
run -r "$R" --json backup "$S"
expect_rc 0 "backup to rebuild the cache"
FC=$(find "$COFFER_CACHE" -name files.lmdb | head -1)
[ -n "$FC" ] || fail "no files cache"
head -c 65536 /dev/urandom >"$FC"
touch "$S/disk.img" # no parent match for it now: the (garbage) cache is asked
run -r "$R" --json backup "$S"
expect_rc 0 "backup with a garbage files cache"
check_restore "with a garbage files cache"

say "ok"
