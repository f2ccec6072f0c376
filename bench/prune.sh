#!/usr/bin/env bash
# prune.sh - retention benchmark: the time, CPU and memory it takes to forget the 10 oldest
# of 20 snapshots and give their space back, coffer against restic and borg.
#
#   bench/prune.sh [COFFER_BIN]
#
# Build (once per invocation, not timed): a copy of the gen-dataset.py v1 tree and 20
# versions of it (version v = gen-dataset.py's v2 mutation with seed SEED+v applied to
# version v-1), each backed up by every tool in turn from the same path, so the 20
# snapshots form one group and share most of their data. Then, RUNS times, every tool on a
# fresh copy of its 20-snapshot state, timed with /usr/bin/time:
#   coffer  coffer forget --keep-last 10, then coffer prune --grace 0
#   restic  restic forget --keep-last 10 --prune
#   borg    borg prune --keep-last 10, then borg compact
# coffer's prune never locks the repository: it condemns packs and deletes them once every
# device has written a newer snapshot or --grace (default 24 h) has passed. With one device
# and no backup after the prune that is 24 h, so the benchmark passes --grace 0; restic and
# borg take an exclusive lock instead. See bench/README.md.
#
# Environment:
#   COFFER_BENCH_DIR  scratch directory (default /tmp/coffer-bench-own; ~7 GB for 1 GiB)
#   RES               results TSV (default $COFFER_BENCH_DIR/results/prune.tsv)
#   TOOLS             tools to run, in order (default "coffer restic borg")
#   RUNS              timed runs per tool, alternating between tools (default 3)
#   MB                dataset size in MiB (default 1024)
#   SEED              dataset seed (default 20240101)
#   VERSIONS, KEEP    snapshots made and kept (default 20 and 10)
#   CHECK             1 (default): check each repository after the prune, not timed
#   QUIET_WAIT        before each timed command, wait up to this many seconds (default 60)
#                     for the machine to be idle; 0: do not wait
set -uo pipefail

usage() {
	echo "usage: $0 [COFFER_BIN]" >&2
	echo "  (env: TOOLS RUNS MB SEED VERSIONS KEEP CHECK QUIET_WAIT RES COFFER_BENCH_DIR)" >&2
	exit 2
}

die() {
	echo "prune.sh: $*" >&2
	exit 1
}

HERE=$(cd "$(dirname "$0")" && pwd)
COFFER=""
for arg in "$@"; do
	case "$arg" in
	-h | --help | -*) usage ;;
	*) [ -z "$COFFER" ] || usage; COFFER=$arg ;;
	esac
done
RUNS=${RUNS:-3}
MB=${MB:-1024}
SEED=${SEED:-20240101}
VERSIONS=${VERSIONS:-20}
KEEP=${KEEP:-10}
CHECK=${CHECK:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
TOOLS=${TOOLS:-"coffer restic borg"}
BENCH=${COFFER_BENCH_DIR:-/tmp/coffer-bench-own}
RES=${RES:-$BENCH/results/prune.tsv}
PRUNE_PASSES=3 # coffer prune runs until one frees nothing, at most this many times

for v in RUNS MB SEED VERSIONS KEEP QUIET_WAIT; do
	case "${!v}" in '' | *[!0-9]*) die "$v must be a number" ;; esac
done
if [ "$KEEP" -lt 1 ] || [ "$KEEP" -ge "$VERSIONS" ]; then die "need 1 <= KEEP < VERSIONS"; fi
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"
# The name run.sh gives the same dataset, so the two scripts share it.
if [ "$MB" = 1024 ]; then SIZE=1G; else SIZE=${MB}M; fi

. "$HERE/lib.sh"
bench_tools_check prune.sh

mkdir -p "$BENCH" "$(dirname "$RES")" || die "cannot create '$BENCH'"
BENCH=$(cd "$BENCH" && pwd)
DATASET=$BENCH/dataset/v1-$SIZE-$SEED
P=$BENCH/prune
DATA=$P/home     # the backed-up directory: one absolute path for every version and tool
ACTIVE=$P/active # ACTIVE/TOOL/{repo,...}: repository, cache and keys of the run under way
TPL=$P/tpl       # TPL/TOOL: the state after the 20 backups, copied back to ACTIVE for each run
LOGS=$P/logs
CLK_TCK=$(getconf CLK_TCK)

# The state is always used at the same path, ACTIVE/TOOL, so borg's and restic's caches and
# borg's security directory stay valid when a copy of it is put back there.
export RESTIC_PASSWORD=coffer-bench RESTIC_CACHE_DIR=$ACTIVE/restic/cache
export BORG_PASSPHRASE=coffer-bench BORG_BASE_DIR=$ACTIVE/borg/base
export COFFER_HOME=$ACTIVE/coffer/home COFFER_CACHE=$ACTIVE/coffer/cache

# ---- dataset ----

if [ ! -f "$DATASET.done" ]; then
	rm -rf "$DATASET"
	mkdir -p "$(dirname "$DATASET")"
	echo "prune.sh: generating the $SIZE dataset (seed $SEED) in $DATASET"
	python3 "$HERE/gen-dataset.py" v1 "$DATASET" --seed "$SEED" --size "$SIZE" \
		>"$DATASET.manifest" || die "gen-dataset.py failed"
	touch "$DATASET.done"
fi
data_bytes=$(du -sb "$DATASET" | cut -f1)
avail=$(df -B1 --output=avail "$BENCH" | tail -1)
# the working copy, the templates and one active copy of a repository
if [ "$avail" -lt $((data_bytes * 6)) ]; then
	die "need about $((data_bytes * 6 / 1000000)) MB free in $BENCH, have $((avail / 1000000)) MB"
fi

# mutate_version V: turn the working copy into version V with gen-dataset.py's v2 mutation
# (2% of the files modified, 1% added, 1% deleted, bytes inserted in the middle of large
# files), seeded with SEED+V. Its changes are dated from T_V2 + V * 100000 s, so every version's
# mtimes differ from, and follow, the previous version's.
mutate_version() {
	python3 - "$HERE/gen-dataset.py" "$DATA" "$((SEED + $1))" "$1" <<'EOF'
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("gen_dataset", sys.argv[1])
gd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gd)
gd.T_V2 += int(sys.argv[4]) * 100000
st = gd.mutate(sys.argv[2], int(sys.argv[3]))
print(" ".join(f"{k}={v}" for k, v in st.items()))
EOF
}

# ---- tools ----

repo() {
	echo "$ACTIVE/$1/repo"
}

tool_init() {
	case "$1" in
	restic) restic -r "$(repo restic)" init ;;
	borg) borg init -e repokey-blake2 "$(repo borg)" ;;
	coffer) "$COFFER" -r "$(repo coffer)" init --recovery-key-file "$ACTIVE/coffer/recovery-key.txt" ;;
	esac
}

# tool_backup LOG TOOL VERSION
tool_backup() {
	case "$2" in
	restic) timed "$1" restic -r "$(repo restic)" backup "$DATA" ;;
	borg) timed "$1" borg create "$(repo borg)::v$3" "$DATA" ;;
	coffer) timed "$1" "$COFFER" -r "$(repo coffer)" backup "$DATA" ;;
	esac
}

# tool_snapshots TOOL: print the number of snapshots in the repository
tool_snapshots() {
	local count='import json, sys; print(len(json.load(sys.stdin)))'
	case "$1" in
	restic) restic -r "$(repo restic)" snapshots --json | python3 -c "$count" ;;
	borg) borg list --short "$(repo borg)" | wc -l ;;
	coffer) "$COFFER" -r "$(repo coffer)" --json snapshots | python3 -c "$count" ;;
	esac
}

# tool_check TOOL: the repository's own structural check (no data read)
tool_check() {
	case "$1" in
	restic) restic -r "$(repo restic)" check ;;
	borg) borg check "$(repo borg)" ;;
	coffer) "$COFFER" -r "$(repo coffer)" check ;;
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

# CPU ticks spent by every process on the machine, from /proc/stat
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# timed LOG CMD...: run CMD under /usr/bin/time after a sync; its output goes to LOG.out.
# Sets WALL UTIME STIME RSS_KIB (peak RSS) and FOREIGN (CPU seconds other processes used
# meanwhile; the machine may be shared). Returns CMD's exit status.
timed() {
	local log=$1 b0 b1 rc
	shift
	sync
	b0=$(busy_ticks)
	/usr/bin/time -f '%e %U %S %M' -o "$log.time" "$@" >"$log.out" 2>&1
	rc=$?
	b1=$(busy_ticks)
	# With a non-zero exit, time writes "Command exited with ..." before the format line.
	read -r WALL UTIME STIME RSS_KIB < <(tail -1 "$log.time")
	FOREIGN=$(awk -v d=$((b1 - b0)) -v hz="$CLK_TCK" -v u="$UTIME" -v s="$STIME" \
		'BEGIN { f = d / hz - u - s; printf "%.2f", f < 0 ? 0 : f }')
	return "$rc"
}

repo_bytes() {
	du -sb "$(repo "$1")" | cut -f1
}

# wait_quiet: the machine may be shared. Wait, at most QUIET_WAIT seconds, until all its
# processes together used less than a tenth of one CPU over one second.
wait_quiet() {
	local i a b
	for ((i = 0; i < QUIET_WAIT; i++)); do
		a=$(busy_ticks)
		sleep 1
		b=$(busy_ticks)
		[ $((b - a)) -gt $((CLK_TCK / 10)) ] || return 0
	done
	echo "  (the machine did not become quiet in ${QUIET_WAIT}s)"
}

# step TOOL RUN PART CMD...: one timed command of a tool's prune; sets BEFORE and AFTER (the
# repository size around it) besides timed's variables, and EXIT.
step() {
	local tool=$1 run=$2 part=$3
	shift 3
	BEFORE=$(repo_bytes "$tool")
	wait_quiet
	timed "$LOGS/$tool-$run-$part" "$@"
	EXIT=$?
	AFTER=$(repo_bytes "$tool")
	return "$EXIT"
}

# row TOOL RUN PART [SNAPSHOTS CHECK]: one TSV row from the last step and a progress line
row() {
	local cpu
	cpu=$(awk -v u="$UTIME" -v s="$STIME" 'BEGIN { printf "%.2f", u + s }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" \
		"$WALL" "$UTIME" "$STIME" "$cpu" "$RSS_KIB" "$EXIT" "$BEFORE" "$AFTER" "$FOREIGN" \
		"${4:--}" "${5:--}" >>"$RES"
	if [ "$3" = verify ]; then
		printf '  %-6s run %s  %-12s  %s snapshots left, check %s\n' "$1" "$2" "$3" "$4" "$5"
		return
	fi
	printf '  %-6s run %s  %-12s  wall %7ss  cpu %7ss  rss %5d MiB  repo %7.1f -> %7.1f MB  exit %s\n' \
		"$1" "$2" "$3" "$WALL" "$cpu" $((RSS_KIB / 1024)) \
		"$(awk -v b="$BEFORE" 'BEGIN { print b / 1e6 }')" \
		"$(awk -v b="$AFTER" 'BEGIN { print b / 1e6 }')" "$EXIT"
}

# tool_prune TOOL RUN: the timed forget and prune of one tool, one row per command
tool_prune() {
	local tool=$1 run=$2 r pass f
	r=$(repo "$tool")
	case "$tool" in
	restic)
		step restic "$run" forget-prune restic -r "$r" forget --keep-last "$KEEP" --prune
		row restic "$run" forget-prune
		;;
	borg)
		step borg "$run" prune borg prune --keep-last "$KEEP" "$r"
		row borg "$run" prune
		[ "$EXIT" = 0 ] || return 1
		step borg "$run" compact borg compact "$r"
		row borg "$run" compact
		;;
	coffer)
		step coffer "$run" forget "$COFFER" -r "$r" forget --keep-last "$KEEP"
		row coffer "$run" forget
		[ "$EXIT" = 0 ] || return 1
		step coffer "$run" prune "$COFFER" -r "$r" prune --grace 0
		row coffer "$run" prune
		[ "$EXIT" = 0 ] || return 1
		# If one prune only condemns and a later one deletes, the later passes are part of
		# the cost. A pass that frees nothing ends this and is not counted ("-noop").
		for pass in $(seq 2 "$PRUNE_PASSES"); do
			step coffer "$run" "prune$pass" "$COFFER" -r "$r" prune --grace 0
			if [ "$EXIT" = 0 ] && [ "$AFTER" -ge "$BEFORE" ]; then
				for f in out time; do
					mv "$LOGS/coffer-$run-prune$pass.$f" "$LOGS/coffer-$run-prune$pass-noop.$f"
				done
				row coffer "$run" "prune$pass-noop"
				break
			fi
			row coffer "$run" "prune$pass"
			[ "$EXIT" = 0 ] || return 1
		done
		;;
	esac
	[ "$EXIT" = 0 ]
}

# verify TOOL RUN: a row with the number of snapshots left and the result of the check
verify() {
	local tool=$1 run=$2 n check=skipped
	n=$(tool_snapshots "$tool" 2>>"$LOGS/$tool-$run-verify.out")
	if [ "$CHECK" = 1 ]; then
		if tool_check "$tool" >>"$LOGS/$tool-$run-verify.out" 2>&1; then check=ok; else check=failed; fi
	fi
	WALL=0 UTIME=0 STIME=0 RSS_KIB=0 FOREIGN=0 EXIT=0
	BEFORE=$(repo_bytes "$tool") AFTER=$BEFORE
	row "$tool" "$run" verify "${n:-?}" "$check"
}

# ---- build: VERSIONS backups per tool, kept as templates ----

build() {
	local i v tool line n
	rm -rf "$P"
	mkdir -p "$ACTIVE" "$TPL" "$LOGS"
	cp -a "$DATASET" "$DATA" || die "cannot copy the dataset"
	for tool in $TOOLS; do
		mkdir -p "$ACTIVE/$tool"
		tool_init "$tool" >"$LOGS/$tool-init.out" 2>&1 ||
			die "$tool: init failed, see $LOGS/$tool-init.out"
	done
	printf 'tool\tversion\twall_s\tcpu_s\tmaxrss_kib\trepo_bytes\n' >"$P/build.tsv"
	for i in $(seq 1 "$VERSIONS"); do
		v=$(printf '%02d' "$i")
		if [ "$i" -gt 1 ]; then
			mutate_version "$i" >"$LOGS/mutate-v$v.out" || die "mutation to v$v failed"
		fi
		line="  v$v"
		for tool in $TOOLS; do
			tool_backup "$LOGS/$tool-backup-v$v" "$tool" "$v" ||
				die "$tool: backup of v$v failed, see $LOGS/$tool-backup-v$v.out"
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$v" "$WALL" \
				"$(awk -v u="$UTIME" -v s="$STIME" 'BEGIN { printf "%.2f", u + s }')" \
				"$RSS_KIB" "$(repo_bytes "$tool")" >>"$P/build.tsv"
			line="$line  $tool ${WALL}s"
		done
		echo "$line"
	done
	for tool in $TOOLS; do
		n=$(tool_snapshots "$tool" 2>/dev/null)
		[ "$n" = "$VERSIONS" ] || die "$tool: $VERSIONS backups made, but ${n:-?} snapshots listed"
		mv "$ACTIVE/$tool" "$TPL/$tool"
	done
	rm -rf "$DATA"
}

# ---- main ----

ENV_TXT=$(dirname "$RES")/prune-env.txt
{
	date -u '+date: %Y-%m-%dT%H:%M:%SZ'
	echo "size: $SIZE ($data_bytes bytes) seed: $SEED versions: $VERSIONS keep: $KEEP runs: $RUNS tools: $TOOLS"
	echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "kernel: $(uname -r)"
	for t in $TOOLS; do tool_version "$t" 2>&1 | head -1; done
} >"$ENV_TXT"
cat "$ENV_TXT"

echo "prune.sh: building $VERSIONS versions and backing each up with: $TOOLS (not timed)"
build
printf 'tool\trun\tpart\twall_s\tuser_s\tsys_s\tcpu_s\tmaxrss_kib\texit\trepo_before\trepo_after\tforeign_cpu_s\tsnapshots\tcheck\n' >"$RES"
failed=0
for run in $(seq 1 "$RUNS"); do
	for tool in $TOOLS; do
		echo "prune.sh: $tool run $run/$RUNS"
		rm -rf "${ACTIVE:?}/$tool"
		cp -a "$TPL/$tool" "$ACTIVE/$tool" || die "cannot copy the $tool state"
		tool_prune "$tool" "$run" || failed=1
		verify "$tool" "$run"
		rm -rf "${ACTIVE:?}/$tool"
	done
done
rm -rf "$ACTIVE" "$TPL"

echo
echo "results: $RES (build: $P/build.tsv, logs: $LOGS)"
python3 - "$RES" "$KEEP" "$VERSIONS" <<'EOF'
import csv
import statistics
import sys

res, keep, versions = sys.argv[1], sys.argv[2], sys.argv[3]
with open(res, newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))

CMDS = {
    "coffer": f"forget --keep-last {keep}, prune --grace 0",
    "coffer prune only": "prune --grace 0",
    "restic": f"forget --keep-last {keep} --prune",
    "borg": f"prune --keep-last {keep}, compact",
}


def counted(r):
    return r["part"] != "verify" and not r["part"].endswith("-noop")


runs = {}  # (label, run) -> measurements of one tool's run
bad = []
for key in sorted({(r["tool"], r["run"]) for r in rows}, key=lambda k: (k[0], int(k[1]))):
    tool, run = key
    mine = [r for r in rows if (r["tool"], r["run"]) == key]
    parts = [r for r in mine if counted(r)]
    ver = [r for r in mine if r["part"] == "verify"]
    why = [f"{r['part']} exit {r['exit']}" for r in parts if r["exit"] != "0"]
    if ver and ver[0]["snapshots"] != keep:
        why.append(f"{ver[0]['snapshots']} snapshots left, not {keep}")
    if ver and ver[0]["check"] == "failed":
        why.append("check failed")
    if why or not parts:
        bad.append(f"- {tool} run {run}: " + ", ".join(why or ["no timed command"]))
        continue
    sets = [(tool, parts)]
    if tool == "coffer":
        sets.append(("coffer prune only", [r for r in parts if r["part"].startswith("prune")]))
    for label, sel in sets:
        runs[(label, run)] = {
            "wall": sum(float(r["wall_s"]) for r in sel),
            "cpu": sum(float(r["cpu_s"]) for r in sel),
            "rss": max(int(r["maxrss_kib"]) for r in sel) / 1024,
            "before": int(sel[0]["repo_before"]) / 1e6,
            "after": int(sel[-1]["repo_after"]) / 1e6,
            "foreign": sum(float(r["foreign_cpu_s"]) for r in sel),
            "passes": sum(1 for r in sel if r["part"].startswith("prune")),
        }

med = {}
for label in CMDS:
    sel = [m for (l, _), m in runs.items() if l == label]
    if sel:
        med[label] = {k: statistics.median(m[k] for m in sel) for k in sel[0]}
        med[label]["n"] = len(sel)

print(f"Forget {int(versions) - int(keep)} of {versions} snapshots (keep the {keep} newest) "
      "and free their space; medians over the successful runs.")
print()
print("| tool | timed commands | runs | wall s | CPU s | peak RSS MiB | repo before MB | repo after MB | freed MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
measured = {r["tool"] for r in rows}
for label, cmds in CMDS.items():
    m = med.get(label)
    if label.split()[0] not in measured:
        continue
    if m is None:
        if label != "coffer prune only":
            print(f"| {label} | {cmds} | 0 | - | - | - | - | - | - |")
        continue
    print(f"| {label} | {cmds} | {m['n']} | {m['wall']:.2f} | {m['cpu']:.2f} | {m['rss']:.0f} | "
          f"{m['before']:.1f} | {m['after']:.1f} | {m['before'] - m['after']:.1f} |")

if "coffer" in measured:
    print()
    print("coffer prune runs with --grace 0: with one device and no backup after it, the condemned")
    print("packs would otherwise be kept for 24 h; restic and borg lock the repository instead.")
passes = sorted({m["passes"] for (l, _), m in runs.items() if l == "coffer"})
if passes and passes != [1]:
    print(f"coffer needed {'/'.join(map(str, passes))} prune passes to free the space; all are counted.")

pairs = [(c, o) for c in ("coffer", "coffer prune only") for o in ("restic", "borg")
         if c in med and o in med]
if pairs:
    print()
    print("| ratio | wall | CPU | peak RSS | target met (faster, less RSS) |")
    print("|---|---:|---:|---:|---|")
    for c, o in pairs:
        w, p, r = (med[c][k] / med[o][k] if med[o][k] > 0 else float("inf")
                   for k in ("wall", "cpu", "rss"))
        print(f"| {c} / {o} | {w:.2f} | {p:.2f} | {r:.2f} | {'yes' if w < 1 and r < 1 else 'no'} |")
else:
    print()
    why = "coffer has no successful run" if "coffer" not in med else "no restic or borg run"
    print(f"(no coffer/restic or coffer/borg ratios: {why})")

noisy = [f"{l} run {run}: {m['foreign']:.1f} s" for (l, run), m in runs.items()
         if l in ("coffer", "restic", "borg") and m["foreign"] > max(0.5, 0.2 * m["wall"])]
if noisy:
    print()
    print("Other processes used the CPU during (foreign CPU seconds): " + "; ".join(noisy))
if bad:
    print()
    print("Failed runs (left out of the medians):")
    print("\n".join(bad))
EOF
[ "$failed" = 0 ] || die "some runs failed; see $LOGS"
