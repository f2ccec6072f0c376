#!/usr/bin/env bash
# load.sh - load test of cofferd: CLIENTS concurrent coffer clients (one account and device
# each) back up fresh data in a loop for SECONDS_ (at most LOOPS backups each), then every
# account is checked with `check --read-data`. Prints requests per second, MB/s uploaded,
# the p50/p99 request latency (from every instance's request log) and each instance's peak
# RSS (VmHWM).
#
#   bench/load.sh BUILD_DIR      env: CLIENTS=16 SECONDS_=60 LOOPS=200 MB=4
#                                     INSTANCES=1   cofferd instances; client i uses i mod N
#                                     SCALE=0       1: PostgreSQL + S3 (a Ceph RADOS Gateway),
#                                                   both started here on 127.0.0.1 with the
#                                                   test suite's tests/system/lib scripts;
#                                                   0: SQLite + files (one data directory,
#                                                   so one instance only)
set -euo pipefail
BIN=${1:?usage: load.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENTS=${CLIENTS:-16}
DURATION=${SECONDS_:-60}
LOOPS=${LOOPS:-200}
MB=${MB:-4}
INSTANCES=${INSTANCES:-1}
SCALE=${SCALE:-0}
[ "$SCALE" = 1 ] || [ "$INSTANCES" = 1 ] || { echo "load.sh: INSTANCES > 1 needs SCALE=1" >&2; exit 2; }
work=$(mktemp -d /tmp/coffer-load.XXXXXX)
spids=()
cleanup() {
	for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ "$SCALE" = 1 ]; then
		ceph_stop "$work/ceph" || true
		pg_stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

STORES=()
if [ "$SCALE" = 1 ]; then
	. "$HERE/../tests/system/lib/pg.sh"
	. "$HERE/../tests/system/lib/ceph.sh"
	pg_start "$work/pg" >/dev/null
	ceph_start "$work/ceph" >/dev/null
	export PGPASSWORD=$PG_PASSWORD
	export AWS_ACCESS_KEY_ID=$CEPH_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CEPH_S3_SECRET_KEY
	STORES=(--meta "$PG_URL" --blobs "s3://load?endpoint=$CEPH_S3_ENDPOINT&region=$CEPH_S3_REGION")
fi
ports=()
for k in $(seq "$INSTANCES"); do
	"$BIN/cofferd" init --data "$work/server$k" "${STORES[@]}" >/dev/null
	ports+=("$(free_port)")
done
for i in $(seq "$CLIENTS"); do
	"$BIN/cofferd" admin --data "$work/server1" "${STORES[@]}" create-account "c$i" --quota 100G \
		>"$work/token$i"
done
for k in $(seq "$INSTANCES"); do
	"$BIN/cofferd" serve --data "$work/server$k" "${STORES[@]}" --threads 8 \
		--listen "127.0.0.1:${ports[$((k - 1))]}" 2>"$work/log$k" &
	spids+=($!)
	until curl -sf "http://127.0.0.1:${ports[$((k - 1))]}/healthz" >/dev/null; do sleep 0.1; done
done
# url_of ACCOUNT [SHIFT]: account c<ACCOUNT> through instance (ACCOUNT + SHIFT) mod N
url_of() { echo "http://127.0.0.1:${ports[$((($1 + ${2:-0}) % INSTANCES))]}/c$1"; }
for i in $(seq "$CLIENTS"); do
	COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$(url_of "$i")" init \
		--token "$(cat "$work/token$i")" --recovery-key-file "$work/rk$i" >/dev/null
done

client() {
	local i=$1 n=0 end=$((SECONDS + DURATION))
	mkdir -p "$work/d$i"
	while [ "$SECONDS" -lt "$end" ] && [ "$n" -lt "$LOOPS" ]; do
		head -c $((MB * 1024 * 1024)) /dev/urandom >"$work/d$i/f$n"
		COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$(url_of "$i")" backup "$work/d$i" >/dev/null ||
			{ echo "client $i: backup failed" >&2; return 1; }
		n=$((n + 1))
	done
	echo "$n" >"$work/n$i"
}

start=$(date +%s.%N)
pids=()
for i in $(seq "$CLIENTS"); do
	client "$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
elapsed=$(python3 -c "import time; print(time.time() - $start)")
# measured before the checks, which read through the instances too
requests=0
bytes_in=0
hwms=""
for k in $(seq "$INSTANCES"); do
	m=$(curl -s "http://127.0.0.1:${ports[$((k - 1))]}/metrics")
	requests=$((requests + $(awk '/^cofferd_requests_total/ {s += $NF} END {printf "%d\n", s}' <<<"$m")))
	bytes_in=$((bytes_in + $(awk '/^cofferd_received_bytes_total/ {s += $NF} END {printf "%d\n", s}' <<<"$m")))
	hwms="$hwms $(awk '/VmHWM/ {print $2}' "/proc/${spids[$((k - 1))]}/status")"
done
cat "$work"/log* >"$work/all.log"
ok=0
for i in $(seq "$CLIENTS"); do
	COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$(url_of "$i" 1)" check --read-data >/dev/null &&
		ok=$((ok + 1))
done
backups=$(cat "$work"/n* | awk '{s += $1} END {print s}')
python3 - "$CLIENTS" "$elapsed" "$requests" "$bytes_in" "$backups" "$ok" "$INSTANCES" \
	"$([ "$SCALE" = 1 ] && echo "PostgreSQL + S3 (Ceph RGW)" || echo "SQLite + files")" \
	"$work/all.log" $hwms <<'PY'
import re, sys
c, el, req, bin_, bk, ok, n, stores, log = sys.argv[1:10]
hwm = sys.argv[10:]
el = float(el)
ms = sorted(float(m) for m in re.findall(r" ms=([0-9.]+)", open(log).read()))
pct = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))] if ms else float("nan")
print(f"{stores}, {n} instance(s): clients {c}, {el:.1f} s, {bk} backups, {req} requests = "
      f"{float(req)/el:.0f} req/s, {float(bin_)/el/1e6:.1f} MB/s uploaded, latency p50 "
      f"{pct(0.50):.1f} ms p99 {pct(0.99):.1f} ms, peak RSS per instance "
      f"{', '.join(f'{int(h)/1024:.0f} MiB' for h in hwm)}, accounts checking clean (through "
      f"another instance): {ok}/{c}")
PY
