#!/usr/bin/env bash
# remote.sh - the same backup and restore with a local repository and through cofferd on
# loopback.
#
#   bench/remote.sh BUILD_DIR        (BUILD_DIR holds coffer and cofferd)
#
# The gen-dataset.py v1 tree (SIZE, default 1G; generated once, shared with run.sh) is backed
# up RUNS times (default 3), alternating: into a fresh local repository, then into a fresh
# cofferd account (SQLite + files, plain HTTP on 127.0.0.1, data directory on the same disk).
# Each backup's snapshot is then restored, alternating the same way, into a new directory
# (kept until the end: see sync-tree.py on ext4 and deletions). Prints wall time and peak RSS
# of each backup and restore, the medians and the ratios remote / local.
# The summary also goes to REMOTE_RES (default $COFFER_BENCH_DIR/results/remote.txt), where
# bench/summarize.py (make bench) picks it up for the Targets table.
# Environment: COFFER_BENCH_DIR (default /tmp/coffer-bench-own), RUNS, SIZE, SEED, REMOTE_RES.
set -euo pipefail
BIN=${1:?usage: remote.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-3}
SIZE=${SIZE:-1G}
SEED=${SEED:-20240101}
BENCH=${COFFER_BENCH_DIR:-/tmp/coffer-bench-own}
DATASET=$BENCH/dataset/v1-$SIZE-$SEED
work=$(mktemp -d /tmp/coffer-remote.XXXXXX)
spid=""
trap '[ -z "$spid" ] || kill "$spid" 2>/dev/null; rm -rf "$work"' EXIT
if [ ! -e "$DATASET.done" ]; then
	mkdir -p "$BENCH/dataset"
	python3 "$HERE/gen-dataset.py" v1 "$DATASET" --seed "$SEED" --size "$SIZE" >"$DATASET.manifest"
	touch "$DATASET.done"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN/cofferd" init --data "$work/server" >/dev/null
"$BIN/cofferd" serve --data "$work/server" --listen "127.0.0.1:$port" --threads 8 2>/dev/null &
spid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
cat "$DATASET" >/dev/null 2>&1 || find "$DATASET" -type f -exec cat {} + >/dev/null # warm the page cache

timed() { # LABEL WHO REPO ARGS...: one coffer command as device WHO, "LABEL wall rss_kib"
	local label=$1 who=$2 repo=$3 out
	shift 3
	out=$({ /usr/bin/time -f "%e %M" env COFFER_HOME="$work/home-$who" "$BIN/coffer" -q \
		-r "$repo" "$@" >/dev/null; } 2>&1 | tail -1)
	echo "$label $out"
}
: >"$work/results"
for run in $(seq "$RUNS"); do
	COFFER_HOME=$work/home-local-$run "$BIN/coffer" -q -r "$work/local-$run" init \
		--recovery-key-file "$work/rk-l$run" >/dev/null
	timed "local-$run" "local-$run" "$work/local-$run" backup "$DATASET" >>"$work/results"
	tok=$("$BIN/cofferd" admin --data "$work/server" create-account "r$run" --quota 100G)
	remote=http://127.0.0.1:$port/r$run
	COFFER_HOME=$work/home-remote-$run "$BIN/coffer" -q -r "$remote" init \
		--token "$tok" --recovery-key-file "$work/rk-r$run" >/dev/null
	timed "remote-$run" "remote-$run" "$remote" backup "$DATASET" >>"$work/results"
	timed "restore-local-$run" "local-$run" "$work/local-$run" restore latest \
		--target "$work/t-local-$run" >>"$work/results"
	timed "restore-remote-$run" "remote-$run" "$remote" restore latest \
		--target "$work/t-remote-$run" >>"$work/results"
	rm -rf "$work/local-$run"
done
REMOTE_RES=${REMOTE_RES:-$BENCH/results/remote.txt}
mkdir -p "$(dirname "$REMOTE_RES")"
python3 - "$work/results" "$SIZE" <<'PY' | tee "$REMOTE_RES"
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for label, wall, rss in rows:
    print(f"  {label:16s} wall {float(wall):6.2f} s  peak RSS {int(rss) / 1024:5.0f} MiB")
med = lambda k: statistics.median(float(w) for l, w, _ in rows if l.startswith(k))
loc, rem = med("local"), med("remote")
print(f"initial backup of {sys.argv[2]}: local {loc:.2f} s, through cofferd {rem:.2f} s, "
      f"ratio {rem / loc:.2f} (target <= 1.3)")
loc, rem = med("restore-local"), med("restore-remote")
print(f"full restore of {sys.argv[2]}: local {loc:.2f} s, through cofferd {rem:.2f} s, "
      f"ratio {rem / loc:.2f}")
PY
