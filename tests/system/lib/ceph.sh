# shellcheck shell=bash
# ceph.sh - a private, throwaway Ceph cluster with an S3 gateway for system tests (sourced).
#
# One monitor, one OSD keeping its data in memory (memstore), no manager, and a RADOS Gateway
# listening on a free port of 127.0.0.1. Nothing is installed or started outside the state
# directory, nothing listens beyond 127.0.0.1, and every daemon is stopped by its own PID.
# Needs the Debian packages ceph-mon, ceph-osd and radosgw.
#
#   ceph_available      status 0 when the three daemons are installed
#   ceph_start DIR      build and start the cluster with all its state under DIR (created; it
#                       must not hold a cluster already). On success sets CEPH_S3_ENDPOINT,
#                       CEPH_S3_REGION, CEPH_S3_ACCESS_KEY and CEPH_S3_SECRET_KEY (fresh random
#                       keys) and writes them to DIR/s3.env. On failure prints the tail of the
#                       daemons' logs and returns 1; call ceph_stop DIR either way.
#   ceph_rgw_stop DIR   stop only the gateway (the data stays with the OSD)
#   ceph_rgw_start DIR  start the gateway again on the same port, and wait for it
#   ceph_stop DIR       stop the gateway, then the OSD, then the monitor (a gateway that loses
#                       its OSD first waits two minutes before it exits), each by the PID file
#                       it wrote: SIGTERM, SIGKILL after 5 s. Leaves DIR in place.
#
# Start-up takes a few seconds because the monitor commits maps every 10 ms instead of every
# second: the gateway creates its pools one map change at a time on its first start.

ceph_available() {
	command -v ceph-mon >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1 &&
		command -v radosgw >/dev/null 2>&1 && command -v radosgw-admin >/dev/null 2>&1
}

# _ceph_ports N: N distinct TCP ports of 127.0.0.1 that were free a moment ago.
_ceph_ports() {
	"${PY:-python3}" - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# _ceph_conf DIR MON_V2 MON_V1 RGW FSID: the configuration; every path points into DIR.
_ceph_conf() {
	local d=$1 v2=$2 v1=$3 rgw=$4 fsid=$5
	cat <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $d/keyring
run dir = $d/run
pid file = $d/run/\$name.pid
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
log to stderr = false
err to stderr = true
crash dir = $d/crash
# one OSD: no replicas, few placement groups, and the rgw pools must all fit on it
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
mon osd full ratio = .99
mon osd backfillfull ratio = .99
mon osd nearfull ratio = .99
osd failsafe full ratio = .999

[mon]
mon data = $d/mon/\$id
paxos propose interval = 0.01
paxos min wait = 0.01

[osd]
keyring = $d/osd/\$id/keyring
osd data = $d/osd/\$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd op num shards = 1
osd op num threads per shard = 2
osd max object name len = 460
osd max object namespace len = 64

[client.rgw.t]
rgw frontends = beast endpoint=127.0.0.1:$rgw
rgw data = $d/rgw
rgw thread pool size = 32
rgw enable usage log = false
rgw dynamic resharding = false
EOF
}

# _ceph_wait TRIES WHAT CMD...: run CMD every 0.1 s until it succeeds, at most TRIES times.
_ceph_wait() {
	local tries=$1 what=$2
	shift 2
	for _ in $(seq "$tries"); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "ceph: $what did not come up" >&2
	return 1
}

_ceph_osd_up() {
	ceph -c "$1" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd\.0 up'
}

_ceph_logs() {
	local f
	for f in "$1"/log/*; do
		[ -s "$f" ] || continue
		echo "--- $f" >&2
		tail -5 "$f" >&2
	done
}

_ceph_start_mon() {
	local d=$1 conf=$1/ceph.conf fsid=$2 v2=$3 v1=$4
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' \
		>/dev/null || return 1
	ceph-authtool "$d/keyring" --gen-key -n client.admin --cap mon 'allow *' \
		--cap osd 'allow *' --cap mgr 'allow *' >/dev/null || return 1
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$v2,v1:127.0.0.1:$v1]" \
		"$d/monmap" >/dev/null || return 1
	ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring" || return 1
	ceph-mon -c "$conf" -i a || return 1
	_ceph_wait 150 "the monitor" ceph -c "$conf" --connect-timeout 2 mon stat
}

# The OSD's key is registered with the monitor before mkfs, which then needs no monitor.
_ceph_start_osd() {
	local d=$1 conf=$1/ceph.conf uuid secret
	uuid=$(cat /proc/sys/kernel/random/uuid)
	secret=$(ceph-authtool --gen-print-key) || return 1
	printf '{"cephx_secret": "%s"}\n' "$secret" >"$d/osd/new.json"
	ceph -c "$conf" osd new "$uuid" -i "$d/osd/new.json" >/dev/null || return 1
	rm -f "$d/osd/new.json"
	mkdir -p "$d/osd/0"
	ceph-authtool --create-keyring "$d/osd/0/keyring" -n osd.0 --add-key "$secret" \
		>/dev/null || return 1
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" --no-mon-config \
		>"$d/log/osd-mkfs.out" 2>&1 || return 1
	ceph-osd -c "$conf" -i 0 2>>"$d/log/osd.stderr" || return 1
	_ceph_wait 200 "the OSD" _ceph_osd_up "$conf"
}

_ceph_start_rgw() {
	local d=$1 conf=$1/ceph.conf port=$2 ak=$3 sk=$4
	ceph -c "$conf" auth get-or-create client.rgw.t mon 'allow rw' osd 'allow rwx' \
		-o "$d/rgw/keyring" >/dev/null 2>&1 || return 1
	radosgw -c "$conf" -n client.rgw.t --keyring "$d/rgw/keyring" || return 1
	_ceph_wait 300 "the gateway" curl -s -o /dev/null "http://127.0.0.1:$port/" || return 1
	radosgw-admin -c "$conf" -n client.admin user create --uid=coffer-test \
		--display-name=coffer-test --access-key="$ak" --secret-key="$sk" >/dev/null
}

ceph_start() {
	local d=$1 fsid ports v2 v1 rgw ak sk t0
	t0=$(date +%s%N)
	if [ -e "$d/ceph.conf" ]; then
		echo "ceph: $d already holds a cluster" >&2
		return 1
	fi
	mkdir -p "$d"/{run,log,mon,osd,rgw,crash} || return 1
	chmod 700 "$d"
	ports=$(_ceph_ports 3) || return 1
	read -r v2 v1 rgw <<<"$ports"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	ak=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n')
	sk=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
	_ceph_conf "$d" "$v2" "$v1" "$rgw" "$fsid" >"$d/ceph.conf"
	if ! _ceph_start_mon "$d" "$fsid" "$v2" "$v1" || ! _ceph_start_osd "$d" ||
		! _ceph_start_rgw "$d" "$rgw" "$ak" "$sk"; then
		_ceph_logs "$d"
		return 1
	fi
	# for the caller
	# shellcheck disable=SC2034
	CEPH_S3_ENDPOINT=http://127.0.0.1:$rgw CEPH_S3_REGION=us-east-1 \
		CEPH_S3_ACCESS_KEY=$ak CEPH_S3_SECRET_KEY=$sk
	(
		umask 077
		printf 'CEPH_S3_ENDPOINT=%s\nCEPH_S3_REGION=%s\nCEPH_S3_ACCESS_KEY=%s\nCEPH_S3_SECRET_KEY=%s\n' \
			"$CEPH_S3_ENDPOINT" "$CEPH_S3_REGION" "$ak" "$sk" >"$d/s3.env"
	)
	echo "ceph: S3 gateway on $CEPH_S3_ENDPOINT, ready in $((($(date +%s%N) - t0) / 1000000)) ms"
}

# _ceph_alive PID: the process exists and is not a zombie waiting for a slow reaper.
_ceph_alive() {
	local state
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ]
}

ceph_stop() {
	local d=$1 name pid
	for name in client.rgw.t osd.0 mon.a; do
		[ -f "$d/run/$name.pid" ] || continue
		pid=$(cat "$d/run/$name.pid")
		case $pid in '' | *[!0-9]*) continue ;; esac
		_ceph_alive "$pid" || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do
			_ceph_alive "$pid" || break
			sleep 0.1
		done
		if _ceph_alive "$pid"; then
			echo "ceph: $name ($pid) ignored SIGTERM" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	return 0
}

ceph_rgw_stop() {
	local d=$1 pid
	[ -f "$d/run/client.rgw.t.pid" ] || return 0
	pid=$(cat "$d/run/client.rgw.t.pid")
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	_ceph_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		_ceph_alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

ceph_rgw_start() {
	local d=$1 port
	port=${CEPH_S3_ENDPOINT##*:}
	radosgw -c "$d/ceph.conf" -n client.rgw.t --keyring "$d/rgw/keyring" || return 1
	_ceph_wait 300 "the gateway" curl -s -o /dev/null "http://127.0.0.1:$port/"
}
