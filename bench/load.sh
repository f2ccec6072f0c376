#!/usr/bin/env bash
# load.sh - load test of cofferd: CLIENTS concurrent coffer clients (one account and device
# each) back up fresh data in a loop for SECONDS (at most LOOPS backups each), then every
# account is checked with `check --read-data`. Prints requests per second, MB/s uploaded and
# the server's peak RSS (VmHWM).
#
#   bench/load.sh BUILD_DIR          (env: CLIENTS=16 SECONDS_=60 LOOPS=200 MB=4)
set -euo pipefail
BIN=${1:?usage: load.sh BUILD_DIR}
CLIENTS=${CLIENTS:-16}
DURATION=${SECONDS_:-60}
LOOPS=${LOOPS:-200}
MB=${MB:-4}
work=$(mktemp -d /tmp/coffer-load.XXXXXX)
spid=""
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

"$BIN/cofferd" init --data "$work/server" >/dev/null
for i in $(seq "$CLIENTS"); do
	"$BIN/cofferd" admin --data "$work/server" create-account "c$i" --quota 100G >"$work/token$i"
done
"$BIN/cofferd" serve --data "$work/server" --listen "127.0.0.1:$port" 2>/dev/null &
spid=$!
until curl -sf "$url/healthz" >/dev/null; do sleep 0.1; done
for i in $(seq "$CLIENTS"); do
	COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$url/c$i" init --token "$(cat "$work/token$i")" \
		--recovery-key-file "$work/rk$i" >/dev/null
done

client() {
	local i=$1 n=0 end=$((SECONDS + DURATION))
	mkdir -p "$work/d$i"
	while [ "$SECONDS" -lt "$end" ] && [ "$n" -lt "$LOOPS" ]; do
		head -c $((MB * 1024 * 1024)) /dev/urandom >"$work/d$i/f$n"
		COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$url/c$i" backup "$work/d$i" >/dev/null ||
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
ok=0
for i in $(seq "$CLIENTS"); do
	COFFER_HOME=$work/h$i "$BIN/coffer" -q -r "$url/c$i" check --read-data >/dev/null && ok=$((ok + 1))
done
requests=$(curl -s "$url/metrics" | awk '/^cofferd_requests_total/ {s += $NF} END {print s}')
bytes_in=$(curl -s "$url/metrics" | awk '/^cofferd_received_bytes_total/ {s += $NF} END {print s}')
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
backups=$(cat "$work"/n* | awk "{s += \$1} END {print s}")
python3 - "$CLIENTS" "$elapsed" "$requests" "$bytes_in" "$hwm" "$backups" "$ok" <<'PY'
import sys
c, el, req, bin_, hwm, bk, ok = sys.argv[1:]
el = float(el)
print(f"clients {c}, {el:.1f} s, {bk} backups, {req} requests = {float(req)/el:.0f} req/s, "
      f"{float(bin_)/el/1e6:.1f} MB/s uploaded, server peak RSS {int(hwm)/1024:.0f} MiB, "
      f"accounts checking clean: {ok}/{c}")
PY
