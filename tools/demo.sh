#!/bin/sh
# demo.sh - the main job end to end, through a real cofferd on 127.0.0.1: create an account,
# back up a real directory of this machine, restore it elsewhere, compare the two trees, and
# show that the server's blob directory and database hold no plaintext. Stops the server.
set -eu
BIN=${1:-build}
COFFER=$BIN/coffer
COFFERD=$BIN/cofferd
SRC=${DEMO_SRC:-/usr/share/doc}
work=$(mktemp -d /tmp/coffer-demo.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export COFFER_HOME="$work/home" COFFER_CACHE="$work/cache"

say() { printf '\n== %s\n' "$*"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
repo="http://127.0.0.1:$port/demo"

say "cofferd: a new service in $work/server (SQLite metadata, blob directory), on 127.0.0.1:$port"
"$COFFERD" init --data "$work/server"
token=$("$COFFERD" admin --data "$work/server" create-account demo --quota 2G)
"$COFFERD" serve --data "$work/server" --listen "127.0.0.1:$port" 2>"$work/server.log" &
pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 50 ] || { echo "cofferd did not start" >&2; cat "$work/server.log" >&2; exit 1; }
	sleep 0.1
done
echo "account 'demo' created; enrollment token shown once, used by init below"

say "init: the repository on the account, this device's identity in \$COFFER_HOME"
"$COFFER" -r "$repo" init --token "$token" --device-name demo --recovery-key-file "$work/recovery.txt"

say "backup $SRC ($(du -sh "$SRC" | cut -f1), $(find "$SRC" | wc -l) entries)"
"$COFFER" -r "$repo" backup "$SRC"

say "second backup: nothing changed, nothing is read or uploaded again"
"$COFFER" -r "$repo" backup "$SRC"

say "snapshots"
"$COFFER" -r "$repo" snapshots

say "restore latest into $work/restore"
"$COFFER" -r "$repo" restore latest --target "$work/restore"

say "compare the original and the restored tree (diff -r, and owners/modes/times via find)"
diff -r --no-dereference "$SRC" "$work/restore$SRC"
(cd "$SRC" && find . -printf '%M %U %G %T@ %p\n' | sort) >"$work/a.lst"
(cd "$work/restore$SRC" && find . -printf '%M %U %G %T@ %p\n' | sort) >"$work/b.lst"
cmp "$work/a.lst" "$work/b.lst"
echo "identical: $(wc -l <"$work/a.lst") entries"

say "verify every byte stored on the server"
"$COFFER" -r "$repo" check --read-data

say "the server holds no plaintext: search its blobs and database for names and contents"
name=$(find "$SRC" -type f -name '*.gz' -prune -o -type f -size +2k -print | head -n 1)
base=$(basename "$name")
dir=$(basename "$(dirname "$name")")
line=$(grep -a -m 1 -E '.{24,}' "$name" | head -c 40 || true)
for marker in "$base" "$dir" "$line"; do
	[ -n "$marker" ] || continue
	if grep -r -F -q -- "$marker" "$work/server"; then
		echo "FOUND plaintext '$marker' on the server" >&2
		exit 1
	fi
	echo "not found on the server: '$marker'"
done
echo "server: $(find "$work/server" -type f | wc -l) files, $(du -sh "$work/server" | cut -f1): ciphertext objects and their metadata"

say "stop the server"
kill "$pid"
wait "$pid" || true
pid=""
echo "cofferd stopped"
say "demo finished: backup and restore through cofferd, comparison and plaintext scan passed"
