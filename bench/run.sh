#!/usr/bin/env bash
# run.sh - backup benchmark: coffer against restic and borg on a generated home directory.
#
#   bench/run.sh COFFER_BIN [--quick]
#
# For each tool and run: a fresh copy of the pristine v1 dataset and an empty repository,
# then (a) initial backup, (b) unchanged re-backup, (c) backup after the v2 mutation,
# (d) full restore of the latest snapshot into an empty directory, checked with diff -r.
# Each timed command runs under /usr/bin/time -v. Then, with coffer among the tools and
# unless BIGINDEX=0, bench/bigindex.sh (backups against a synthetic index of ENTRIES entries)
# with coffer's build directory. summarize.py prints the tables and the issue's targets, met
# or not. See bench/README.md.
#
# Environment:
#   COFFER_BENCH_DIR  scratch directory (default /tmp/coffer-bench-own; ~5 GB for 1 GiB)
#   RES               results TSV (default $COFFER_BENCH_DIR/results/runs.tsv)
#   TOOLS             tools to run, in order (default "coffer restic borg")
#   RUNS              runs per tool, alternating between tools (default 3; --quick: 1)
#   SIZE              dataset size for gen-dataset.py (default 1G; --quick: 64M)
#   SEED              dataset seed (default 20240101)
#   BIGINDEX          0: skip bench/bigindex.sh (default 1)
#   ENTRIES, MIB      bigindex.sh's index entries and tree size (default 10000000 and 1024;
#                     --quick: 200000 and 64)
#   BIG_RES           bigindex.sh's results TSV (default bigindex.tsv beside RES)
#   REMOTE_RES        saved output of bench/remote.sh, summarised when the file exists
#                     (default remote.txt beside RES)
set -uo pipefail

usage() {
	echo "usage: $0 COFFER_BIN [--quick]   (env: TOOLS RUNS SIZE SEED RES COFFER_BENCH_DIR" \
		"BIGINDEX ENTRIES MIB BIG_RES REMOTE_RES)" >&2
	exit 2
}

die() {
	echo "run.sh: $*" >&2
	exit 1
}

HERE=$(cd "$(dirname "$0")" && pwd)
COFFER=""
QUICK=0
for arg in "$@"; do
	case "$arg" in
	--quick) QUICK=1 ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) [ -z "$COFFER" ] || usage; COFFER=$arg ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	RUNS=${RUNS:-1}
	SIZE=${SIZE:-64M}
	ENTRIES=${ENTRIES:-200000}
	MIB=${MIB:-64}
fi
RUNS=${RUNS:-3}
SIZE=${SIZE:-1G}
SEED=${SEED:-20240101}
TOOLS=${TOOLS:-"coffer restic borg"}
BENCH=${COFFER_BENCH_DIR:-/tmp/coffer-bench-own}
RES=${RES:-$BENCH/results/runs.tsv}
BIGINDEX=${BIGINDEX:-1}
BIG_RES=${BIG_RES:-$(dirname "$RES")/bigindex.tsv}
REMOTE_RES=${REMOTE_RES:-$(dirname "$RES")/remote.txt}

. "$HERE/lib.sh"
bench_tools_check run.sh
command -v diff >/dev/null || die "diff is needed"

mkdir -p "$BENCH" "$(dirname "$RES")" || die "cannot create '$BENCH'"
BENCH=$(cd "$BENCH" && pwd)
DATASET=$BENCH/dataset/v1-$SIZE-$SEED
DATA=$BENCH/work/home       # the backed-up directory: same absolute path for every run
REPO=$BENCH/repo
STATE=$BENCH/state          # tool caches and keys, kept between the steps of one run
RESTORES=$BENCH/restore    # restore targets, one per tool and run, removed at the end
TARGET=$RESTORES/none
LOGS=$BENCH/logs

export RESTIC_PASSWORD=coffer-bench RESTIC_CACHE_DIR=$STATE/restic-cache
export BORG_PASSPHRASE=coffer-bench BORG_BASE_DIR=$STATE/borg-base
export COFFER_HOME=$STATE/coffer-home COFFER_CACHE=$STATE/coffer-cache

# ---- dataset ----

if [ ! -f "$DATASET.done" ]; then
	rm -rf "$DATASET"
	mkdir -p "$(dirname "$DATASET")"
	echo "run.sh: generating the $SIZE dataset (seed $SEED) in $DATASET"
	python3 "$HERE/gen-dataset.py" v1 "$DATASET" --seed "$SEED" --size "$SIZE" \
		>"$DATASET.manifest" || die "gen-dataset.py failed"
	touch "$DATASET.done"
fi
data_bytes=$(du -sb "$DATASET" | cut -f1)
avail=$(df -B1 --output=avail "$BENCH" | tail -1)
ntools=$(echo "$TOOLS" | wc -w)
need=$((data_bytes * (3 + RUNS * ntools))) # working copy, repositories, kept restores
if [ "$avail" -lt "$need" ]; then
	die "need about $((need / 1000000)) MB free in $BENCH, have $((avail / 1000000)) MB"
fi

# ---- tools ----

tool_init() {
	case "$1" in
	restic) restic -r "$REPO" init ;;
	borg) borg init -e repokey-blake2 "$REPO" ;;
	coffer) "$COFFER" -r "$REPO" init --recovery-key-file "$STATE/recovery-key.txt" ;;
	esac
}

# tool_backup LOG TOOL ARCHIVE-NAME: one timed backup of $DATA
tool_backup() {
	case "$2" in
	restic) timed "$1" restic -r "$REPO" backup "$DATA" ;;
	borg) timed "$1" borg create "$REPO::$3" "$DATA" ;;
	coffer) timed "$1" "$COFFER" -r "$REPO" backup "$DATA" ;;
	esac
}

# tool_restore LOG TOOL ARCHIVE-NAME: one timed restore of the latest snapshot. All three
# put the backed-up directory at $TARGET/<its absolute path>: restic and coffer by design;
# borg extracts the stored path (absolute minus the leading /) in its working directory,
# which is $TARGET.
tool_restore() {
	case "$2" in
	restic) timed "$1" restic -r "$REPO" restore latest --target "$TARGET" ;;
	borg) (cd "$TARGET" && timed "$1" borg extract "$REPO::$3") ;;
	coffer) timed "$1" "$COFFER" -r "$REPO" restore latest --target "$TARGET" ;;
	esac
}

tool_version() {
	case "$1" in
	restic) restic version ;;
	borg) borg --version ;;
	coffer) "$COFFER" version 2>&1 || echo "coffer: $COFFER" ;;
	esac
}

# ---- measuring ----

# timed LOG CMD...: run CMD (in $PWD) under /usr/bin/time -v; output goes to LOG.out,
# the measurements to LOG.time. Returns CMD's exit status.
timed() {
	local log=$1
	shift
	sync
	/usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>&1
}

repo_bytes() {
	du -sb "$REPO" | cut -f1
}

# record TOOL RUN STEP LOG EXIT REPO_BYTES GROWTH CHECK: one TSV row and a progress line
record() {
	local wall user sys rss cpu
	read -r wall user sys rss < <(bench_parse_time "$4.time")
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" \
		"$wall" "$user" "$sys" "$cpu" "$rss" "$6" "$7" "$(du -sb "$DATA" | cut -f1)" \
		"$5" "$8" >>"$RES"
	printf '  %-6s run %s  %-11s  wall %7ss  cpu %7ss  rss %5d MiB  repo %6.1f MB  exit %s %s\n' \
		"$1" "$2" "$3" "$wall" "$cpu" $((rss / 1024)) \
		"$(awk -v b="$6" 'BEGIN { print b / 1e6 }')" "$5" "$8"
}

# backup_step TOOL RUN STEP ARCHIVE: a timed backup; REPO_SIZE is the repository size before
# and is updated to the size after.
backup_step() {
	local log=$LOGS/$1-$2-$3 rc size
	tool_backup "$log" "$1" "$4"
	rc=$?
	size=$(repo_bytes)
	record "$1" "$2" "$3" "$log" "$rc" "$size" $((size - REPO_SIZE)) "-"
	REPO_SIZE=$size
	return "$rc"
}

# Restore targets stay until the end: deleting 20,000 files just before the next tool's
# restore would slow that one down (see sync-tree.py).
restore_step() {
	local log=$LOGS/$1-$2-d-restore rc check=differs
	TARGET=$RESTORES/$1-$2
	mkdir -p "$TARGET"
	tool_restore "$log" "$1" v2
	rc=$?
	if [ "$rc" = 0 ] && diff -r "$DATA" "$TARGET$DATA" >"$log.diff" 2>&1; then
		check=identical
	fi
	record "$1" "$2" d-restore "$log" "$rc" "$(repo_bytes)" 0 "$check"
	[ "$check" = identical ]
}

# one_run TOOL RUN: the four steps on a fresh copy of v1 and an empty repository
one_run() {
	local tool=$1 run=$2
	rm -rf "$REPO" "$STATE"
	mkdir -p "$(dirname "$DATA")" "$STATE" "$LOGS"
	python3 "$HERE/sync-tree.py" "$DATASET" "$DATA" || die "cannot copy the dataset"
	if ! tool_init "$tool" >"$LOGS/$tool-$run-init.out" 2>&1; then
		echo "  $tool: init failed, see $LOGS/$tool-$run-init.out" >&2
		return 1
	fi
	REPO_SIZE=$(repo_bytes)
	backup_step "$tool" "$run" a-initial v1 || return 1
	backup_step "$tool" "$run" b-unchanged v1b || return 1
	python3 "$HERE/gen-dataset.py" mutate "$DATA" --seed "$SEED" >"$LOGS/$tool-$run-mutate.out" ||
		die "gen-dataset.py mutate failed"
	backup_step "$tool" "$run" c-v2 v2 || return 1
	restore_step "$tool" "$run"
}

# ---- main ----

{
	date -u '+date: %Y-%m-%dT%H:%M:%SZ'
	echo "size: $SIZE ($data_bytes bytes) seed: $SEED runs: $RUNS tools: $TOOLS"
	echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "kernel: $(uname -r)"
	for t in $TOOLS; do tool_version "$t" 2>&1 | head -1; done
} >"$(dirname "$RES")/env.txt"
cat "$(dirname "$RES")/env.txt"

printf 'tool\trun\tstep\twall_s\tuser_s\tsys_s\tcpu_s\tmaxrss_kib\trepo_bytes\tgrowth_bytes\tdata_bytes\texit\tcheck\n' >"$RES"
failed=0
rm -rf "$RESTORES" # long before any timed restore
read -r -a tools <<<"$TOOLS"
for run in $(seq 1 "$RUNS"); do
	# the order rotates: no tool always runs first, after the previous run's clean-up
	for ((i = 0; i < ${#tools[@]}; i++)); do
		tool=${tools[(i + run - 1) % ${#tools[@]}]}
		echo "run.sh: $tool run $run/$RUNS"
		one_run "$tool" "$run" || failed=1
	done
done
rm -rf "$DATA" "$REPO" "$STATE" "$RESTORES"

summary_args=("$RES")
case " $TOOLS " in
*" coffer "*)
	if [ "$BIGINDEX" != 0 ]; then
		echo
		echo "run.sh: bench/bigindex.sh $(dirname "$COFFER")"
		rm -f "$BIG_RES"
		if ! COFFER_BENCH_DIR=$BENCH BIG_RES=$BIG_RES ENTRIES=${ENTRIES:-10000000} \
			MIB=${MIB:-1024} "$HERE/bigindex.sh" "$(dirname "$COFFER")"; then
			echo "run.sh: bigindex.sh failed" >&2
			failed=1
		fi
		[ ! -s "$BIG_RES" ] || summary_args+=("$BIG_RES")
	fi
	;;
esac
[ ! -s "$REMOTE_RES" ] || summary_args+=(--remote "$REMOTE_RES")

echo
echo "results: $RES"
python3 "$HERE/summarize.py" "${summary_args[@]}"
[ "$failed" = 0 ] || die "some runs failed; see $LOGS"
