#!/usr/bin/env bash
# bigindex.sh - coffer backups against a repository whose chunk index holds ENTRIES entries.
#
#   bench/bigindex.sh BUILD_DIR      (BUILD_DIR holds coffer and tests/cf_bigindex)
#
# Once per ENTRIES, kept in $COFFER_BENCH_DIR/bigindex-ENTRIES: a repository made with
# `coffer init`, then filled by cf_bigindex with ENTRIES synthetic index entries (random blob
# ids in made-up packs, tests/tools/cf_bigindex.c). Once per MIB, kept in
# $COFFER_BENCH_DIR/bigindex-data-MIB: two trees, a/ and b/, of MIB MiB of random 8 MiB
# files each. Then, on a fresh copy of that repository and its device, with an empty
# COFFER_CACHE, each under /usr/bin/time -v:
#   a-first      backup of a/: builds the LMDB index cache from ENTRIES entries, then backs up
#   b-cached     backup of b/ (new data too), the cache built
#   c-unchanged  backup of b/ again
# One TSV row per step goes to BIG_RES (overwritten), and a table is printed.
#
# Environment:
#   ENTRIES           synthetic index entries (default 10000000; e.g. 200000 for a quick try)
#   MIB               size of each tree in MiB, in 8 MiB files (default 1024)
#   COFFER_BENCH_DIR  scratch directory (default /tmp/coffer-bench-own); at 10M entries and
#                     1 GiB it needs about 6 GB (see bench/README.md)
#   BIG_RES           results TSV (default $COFFER_BENCH_DIR/results/bigindex.tsv)
#   CF_BIGINDEX       the cf_bigindex tool (default BUILD_DIR/tests/cf_bigindex)
set -uo pipefail

usage() {
	echo "usage: $0 BUILD_DIR   (env: ENTRIES MIB BIG_RES CF_BIGINDEX COFFER_BENCH_DIR)" >&2
	exit 2
}

die() {
	echo "bigindex.sh: $*" >&2
	exit 1
}

[ $# = 1 ] || usage
case "$1" in -*) usage ;; esac
BUILD=$1
HERE=$(cd "$(dirname "$0")" && pwd)
ENTRIES=${ENTRIES:-10000000}
MIB=${MIB:-1024}
BENCH=${COFFER_BENCH_DIR:-/tmp/coffer-bench-own}
BIG_RES=${BIG_RES:-$BENCH/results/bigindex.tsv}
case "$ENTRIES" in '' | *[!0-9]* | 0) die "ENTRIES must be a positive number, not '$ENTRIES'" ;; esac
case "$MIB" in '' | *[!0-9]* | 0) die "MIB must be a positive number, not '$MIB'" ;; esac

# shellcheck disable=SC2034 # read by bench_tools_check (lib.sh)
TOOLS=coffer
COFFER=$BUILD/coffer
. "$HERE/lib.sh"
bench_tools_check bigindex.sh
if [ -z "${CF_BIGINDEX:-}" ]; then
	CF_BIGINDEX=$BUILD/tests/cf_bigindex
	[ -x "$CF_BIGINDEX" ] || CF_BIGINDEX=$BUILD/cf_bigindex
fi
[ -x "$CF_BIGINDEX" ] || die "no cf_bigindex in '$BUILD/tests' (build the tree, or set CF_BIGINDEX)"

mkdir -p "$BENCH" "$(dirname "$BIG_RES")" || die "cannot create '$BENCH'"
BENCH=$(cd "$BENCH" && pwd)
PRISTINE=$BENCH/bigindex-$ENTRIES # repo/ and home/ right after cf_bigindex
DATA=$BENCH/bigindex-data-$MIB    # a/ and b/
WORK=$BENCH/bigindex-work         # the measured copy: repo/, home/, cache/
LOGS=$BENCH/logs
FILES=$(((MIB + 7) / 8))

# ---- the repository with ENTRIES index entries, once ----

if [ ! -f "$PRISTINE/done" ]; then
	rm -rf "$PRISTINE"
	mkdir -p "$PRISTINE" || die "cannot create '$PRISTINE'"
	echo "bigindex.sh: writing a repository with $ENTRIES synthetic index entries in $PRISTINE"
	start=$(date +%s)
	COFFER_HOME=$PRISTINE/home COFFER_CACHE=$PRISTINE/cache "$COFFER" -q -r "$PRISTINE/repo" \
		init --recovery-key-file "$PRISTINE/recovery-key.txt" >"$PRISTINE/init.out" 2>&1 ||
		die "coffer init failed, see $PRISTINE/init.out"
	COFFER_HOME=$PRISTINE/home "$CF_BIGINDEX" "$PRISTINE/repo" "$ENTRIES" \
		>"$PRISTINE/objects" 2>"$PRISTINE/cf_bigindex.err" ||
		die "cf_bigindex failed, see $PRISTINE/cf_bigindex.err"
	rm -rf "$PRISTINE/cache"
	touch "$PRISTINE/done"
	echo "bigindex.sh: $(cat "$PRISTINE/objects") index objects, $(du -sm "$PRISTINE/repo" |
		cut -f1) MB, in $(($(date +%s) - start)) s"
fi

# ---- two trees of random data, once ----

if [ ! -f "$DATA/done" ]; then
	rm -rf "$DATA"
	echo "bigindex.sh: generating two trees of $FILES random 8 MiB files in $DATA"
	for tree in a b; do
		mkdir -p "$DATA/$tree" || die "cannot create '$DATA/$tree'"
		for ((i = 0; i < FILES; i++)); do
			head -c 8388608 /dev/urandom >"$DATA/$tree/f$i" || die "cannot write '$DATA/$tree/f$i'"
		done
	done
	touch "$DATA/done"
fi
data_bytes=$(du -sb "$DATA/a" | cut -f1)

# The copy of the repository, two backups of the tree's size (random data does not
# compress), the index cache (about 61 bytes an entry), and room to spare.
need=$(($(du -sb "$PRISTINE" | cut -f1) + 2 * data_bytes + ENTRIES * 64 + 100000000))
rm -rf "$WORK"
avail=$(df -B1 --output=avail "$BENCH" | tail -1)
[ "$avail" -ge "$need" ] || die "need about $((need / 1000000)) MB free in $BENCH, have $((avail / 1000000)) MB"

# ---- measuring ----

mkdir -p "$WORK" "$LOGS" || die "cannot create '$WORK'"
cp -a "$PRISTINE/repo" "$WORK/repo" || die "cannot copy $PRISTINE/repo"
cp -a "$PRISTINE/home" "$WORK/home" || die "cannot copy $PRISTINE/home"
export COFFER_HOME=$WORK/home COFFER_CACHE=$WORK/cache
REPO_SIZE=$(du -sb "$WORK/repo" | cut -f1)

printf 'entries\ttree_mib\tstep\twall_s\tuser_s\tsys_s\tcpu_s\tmaxrss_kib\texit\tdata_bytes\tgrowth_bytes\tcache_bytes\n' \
	>"$BIG_RES"

# step NAME TREE: one timed backup of $DATA/TREE, one TSV row
step() {
	local name=$1 tree=$2 log=$LOGS/bigindex-$1 rc wall user sys rss cpu size cache
	cat "$DATA/$tree"/* >/dev/null # the page cache is warm, as in run.sh
	sync
	/usr/bin/time -v -o "$log.time" "$COFFER" -q -r "$WORK/repo" backup "$DATA/$tree" \
		>"$log.out" 2>&1
	rc=$?
	read -r wall user sys rss < <(bench_parse_time "$log.time")
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	size=$(du -sb "$WORK/repo" | cut -f1)
	cache=$(du -sB1 "$COFFER_CACHE" 2>/dev/null | cut -f1) # blocks used, not apparent size
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ENTRIES" "$MIB" "$name" \
		"$wall" "$user" "$sys" "$cpu" "$rss" "$rc" "$data_bytes" $((size - REPO_SIZE)) \
		"${cache:-0}" >>"$BIG_RES"
	REPO_SIZE=$size
	[ "$rc" = 0 ] || echo "bigindex.sh: $name: coffer exited $rc, see $log.out" >&2
	return "$rc"
}

echo "bigindex.sh: $ENTRIES index entries, backups of $((data_bytes / 1048576)) MiB"
failed=0
rm -rf "$COFFER_CACHE"
step a-first a || failed=1
step b-cached b || failed=1
step c-unchanged b || failed=1
rm -rf "$WORK"

echo
echo "results: $BIG_RES"
awk -F'\t' '
NR == 1 { next }
NR == 2 {
	printf "%s index entries, %s MiB trees\n\n", $1, $2
	print "| step | wall s | CPU s | peak RSS MiB | repo growth MB | index cache MB | exit |"
	print "|---|---:|---:|---:|---:|---:|---:|"
}
{
	label = $3 == "a-first" ? "backup, empty cache (builds it)" : \
		$3 == "b-cached" ? "backup of new data, cache built" : "unchanged re-backup"
	printf "| %s | %.2f | %.2f | %.0f | %.1f | %.1f | %s |\n", label, $4, $7, $8 / 1024, \
		$11 / 1e6, $12 / 1e6, $9
}' "$BIG_RES"
[ "$failed" = 0 ] || die "some backups failed; see $LOGS/bigindex-*"
