#!/bin/bash
# test_retention.sh - forget and prune through the real binary (docs/format.md 16):
#  1. a backup-only device floods the repository with forged snapshots, dated ahead and
#     inside every window: forget keeps exactly the genuine snapshots it keeps without them;
#  2. space is reclaimed: after forget + prune the repository is within 10 % of a fresh one
#     holding only the kept snapshots;
#  3. prune killed with SIGKILL at random points: check --read-data passes after each kill,
#     and a re-run finishes;
#  4. prune running while two devices back up in loops: every backup succeeds and every
#     remaining snapshot restores byte for byte;
#  5. forget refuses a backup-only device, bad policies and unknown snapshots.
# CF_RETENTION_ROUNDS (default 5) bounds the random loops; the seed is printed.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

SEED=${CF_SEED:-$RANDOM}
ROUNDS=${CF_RETENTION_ROUNDS:-5}
RANDOM=$SEED
say "seed $SEED (CF_SEED=$SEED replays the random timings), $ROUNDS rounds"

NOW=$(date +%s)
S=$TMP/src
mkdir -p "$S"

manifest() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# mutate DIR: a new random file, one changed in place, the oldest removed beyond six
mutate() {
	local d=$1 n
	n=$(find "$d" -type f | wc -l)
	head -c $((200000 + RANDOM * 8)) /dev/urandom >"$d/f-$(date +%s%N)"
	if [ "$n" -gt 0 ]; then
		local one
		one=$(find "$d" -type f | sort | head -1)
		head -c 50000 /dev/urandom | dd of="$one" bs=1 seek=1000 conv=notrunc 2>/dev/null
	fi
	if [ "$n" -gt 6 ]; then
		rm -f "$(find "$d" -type f | sort | head -1)"
	fi
}

json_ids() { # print "id action time reasons" of a forget --json plan, genuine device only
	"$PY" -c '
import json, sys
for s in json.load(open(sys.argv[1]))["snapshots"]:
    if sys.argv[2] == "all" or s["device"] == sys.argv[2]:
        print(s["id"], s["action"], s["time"], s["reasons"].replace(" ", "_") or "-")' "$TMP/out" "${1:-all}"
}

say "1. a backup-only device floods forged future-dated snapshots"
R=$TMP/flood
mkrepo "$R"
for d in 9 8 7 6 5 4 3 2 1 0; do
	echo "day $d" >"$S/day"
	run -r "$R" backup --host laptop --time "@$((NOW - d * 86400 - 60))" "$S"
	expect_rc 0 "genuine backup $d"
done
run -r "$R" --json snapshots
GENUINE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["device"])' "$TMP/out")
B=$TMP/bhome
COFFER_HOME=$B run -r "$R" --json devices join --role backup-only --device-name thief
expect_rc 0 "join"
CODE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
run -r "$R" devices approve "$CODE" --yes
expect_rc 0 "approve the backup-only device"
for d in 1 2 3 4 5 6 7 8 9 10 11 12; do
	COFFER_HOME=$B run -r "$R" backup --host laptop --time "@$((NOW + d * 86400))" "$S"
	expect_rc 0 "forged backup +$d days"
done
COFFER_HOME=$B run -r "$R" backup --host laptop --time "@$((NOW + 7200))" "$S"
expect_rc 0 "forged backup +2 h"
# and in the windows: the last second of each past day, and just after the newest genuine one
for d in 1 2 3 4 5 6 7 8 9; do
	day=$(date -d "@$((NOW - d * 86400))" +%Y-%m-%d)
	COFFER_HOME=$B run -r "$R" backup --host laptop --time "$day 23:59:59" "$S"
	expect_rc 0 "forged backup at the end of $day"
done
COFFER_HOME=$B run -r "$R" backup --host laptop --time "@$((NOW - 55))" "$S"
expect_rc 0 "forged backup just after the newest genuine one"
COFFER_HOME=$B run -r "$R" forget --keep-last 1
expect_rc 1 "forget from a backup-only device"
one_line_error "forget from a backup-only device"
for policy in "--keep-daily 7" "--keep-last 3" "--keep-within 4d" "--keep-weekly 1"; do
	# shellcheck disable=SC2086
	run -r "$R" --json forget $policy --dry-run
	expect_rc 0 "forget $policy --dry-run"
	json_ids all >"$TMP/plan"
	future_removed=$(awk '$2 == "remove" && $4 ~ /future/' "$TMP/plan" | wc -l)
	future_kept=$(grep -c 'future-dated' "$TMP/plan" || true)
	json_ids "$GENUINE" >"$TMP/plan"
	genuine_kept=$(awk '$2 == "keep"' "$TMP/plan" | wc -l)
	[ "$future_removed" = 0 ] || fail "$policy removed a future-dated snapshot"
	[ "$future_kept" = 13 ] || fail "$policy: $future_kept future-dated snapshots kept, want 13"
	case $policy in
	"--keep-daily 7") want=7 ;;
	"--keep-last 3") want=3 ;;
	"--keep-within 4d") want=5 ;; # days 0..4 before the newest
	"--keep-weekly 1") want=1 ;;
	esac
	[ "$genuine_kept" = "$want" ] || fail "$policy kept $genuine_kept genuine snapshots, want $want"
done
say "   the newest genuine snapshot is what --keep-last 1 keeps, not a forged one"
run -r "$R" --json forget --keep-last 1 --dry-run
json_ids "$GENUINE" | awk '$2 == "keep" && $4 == "last"' >"$TMP/kept"
[ "$(wc -l <"$TMP/kept")" = 1 ] || fail "keep-last 1 kept $(wc -l <"$TMP/kept") genuine by 'last'"
run -r "$R" forget --keep-daily 7
expect_rc 0 "forget --keep-daily 7"
run -r "$R" --json snapshots
n=$("$PY" -c 'import json,sys; print(sum(s["device"] == sys.argv[2] for s in json.load(open(sys.argv[1]))))' "$TMP/out" "$GENUINE")
[ "$n" = 7 ] || fail "$n genuine snapshots left, want 7"
run -r "$R" check
expect_rc 0 "check after forget (forgotten snapshots are not gaps)"
COFFER_HOME=$B run -r "$R" backup --host laptop "$S"
expect_rc 0 "the backup-only device still backs up after others' snapshots were forgotten"

say "5. bad input: no policy, policy and ids, unknown id, bad values"
run -r "$R" forget
expect_rc 2 "forget without a policy"
one_line_error "forget without a policy"
run -r "$R" forget --keep-last 2 deadbeefdeadbeef
expect_rc 2 "policy and ids together"
run -r "$R" forget deadbeefdeadbeef
[ "$rc" != 0 ] || fail "an unknown snapshot was forgotten"
one_line_error "unknown snapshot"
for bad in "--keep-last 0" "--keep-last x" "--keep-within 5" "--keep-daily -1"; do
	# shellcheck disable=SC2086
	run -r "$R" forget $bad
	expect_rc 2 "forget $bad"
	one_line_error "forget $bad"
done
run -r "$R" prune --max-repack-size lots
expect_rc 2 "prune --max-repack-size lots"
run -r "$R" prune --grace soon
expect_rc 2 "prune --grace soon"

say "2. space reclaimed: forget + prune against a fresh repository of the kept snapshots"
rm -rf "$S" && mkdir -p "$S"
R2=$TMP/space
R3=$TMP/fresh
mkrepo "$R2"
mkrepo "$R3"
for v in 1 2 3 4 5 6 7 8; do
	mutate "$S"
	run -r "$R2" backup "$S"
	expect_rc 0 "backup v$v"
	if [ "$v" -ge 7 ]; then
		run -r "$R3" backup "$S"
		expect_rc 0 "fresh backup v$v"
	fi
done
listing() { (cd "$1" && find . -type f ! -path './tmp/*' | sort); }
listing "$R2" >"$TMP/before"
run -r "$R2" forget --keep-last 2 --dry-run
expect_rc 0 "forget --dry-run"
grep -q "6 would be removed" "$TMP/out" || fail "forget --dry-run: $(tail -1 "$TMP/out")"
run -r "$R2" --json prune --dry-run --grace 0
expect_rc 0 "prune --dry-run"
listing "$R2" >"$TMP/after"
cmp -s "$TMP/before" "$TMP/after" || fail "a dry run changed the repository"
run -r "$R2" forget --keep-last 2 --prune --grace 0
expect_rc 0 "forget --keep-last 2 --prune --grace 0"
run -r "$R2" --json prune --grace 0
expect_rc 0 "second prune"
grep -q '"packs_waiting":0' "$TMP/out" || fail "condemned packs still waiting: $(cat "$TMP/out")"
a=$(du -sb "$R2/packs" | cut -f1)
b=$(du -sb "$R3/packs" | cut -f1)
say "   pruned $a bytes, fresh $b bytes"
[ $((a * 100)) -le $((b * 110)) ] || fail "pruned repository $a bytes > 110 % of fresh $b"
run -r "$R2" check --read-data
expect_rc 0 "check --read-data after prune"
run -r "$R2" restore latest --target "$TMP/r2"
expect_rc 0 "restore after prune"
treecmp "$S" "$TMP/r2$S"

say "3. prune killed with SIGKILL at random points"
for i in $(seq "$ROUNDS"); do
	mutate "$S"
	mutate "$S"
	run -r "$R2" backup "$S"
	expect_rc 0 "backup before kill $i"
	run -r "$R2" forget --keep-last 1
	expect_rc 0 "forget before kill $i"
	"$COFFER" -r "$R2" -q prune --grace 0 >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	run -r "$R2" check --read-data
	expect_rc 0 "check --read-data after a killed prune ($i)"
done
run -r "$R2" prune --grace 0
expect_rc 0 "prune after the kills"
run -r "$R2" --json prune --grace 0
expect_rc 0 "prune again"
grep -q '"packs_condemned":0,.*"packs_waiting":0' "$TMP/out" || fail "work left: $(cat "$TMP/out")"
run -r "$R2" check --read-data
expect_rc 0 "check after the re-run"
rm -rf "$TMP/r3"
run -r "$R2" restore latest --target "$TMP/r3"
expect_rc 0 "restore after the kills"
treecmp "$S" "$TMP/r3$S"

say "4. prune while two devices back up in loops"
R4=$TMP/busy
mkrepo "$R4"
H2=$TMP/home2
COFFER_HOME=$H2 run -r "$R4" --json devices join --device-name second
CODE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$TMP/out")
run -r "$R4" devices approve "$CODE" --yes
expect_rc 0 "approve the second device"
mkdir -p "$TMP/man" "$TMP/sa" "$TMP/sb"
head -c 3000000 /dev/urandom >"$TMP/shared"
cp "$TMP/shared" "$TMP/sa/shared"
cp "$TMP/shared" "$TMP/sb/shared"
backups() { # HOME SRC HOST N LOG
	local home=$1 src=$2 host=$3 n=$4 log=$5 id
	for _ in $(seq "$n"); do
		mutate "$src"
		COFFER_HOME=$home "$COFFER" -r "$R4" --json backup --host "$host" "$src" >"$log.out" 2>>"$log" ||
			{ echo "backup failed" >>"$log"; return 1; }
		id=$("$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("message_type") == "summary": print(o["snapshot_id"])' "$log.out")
		manifest "$src" >"$TMP/man/$id"
		echo "$src" >"$TMP/man/$id.src"
		sleep "0.$((RANDOM % 3))"
	done
}
prunes() { # N LOG
	local n=$1 log=$2
	for _ in $(seq "$n"); do
		sleep "0.$((RANDOM % 5))"
		"$COFFER" -r "$R4" -q forget --keep-last 2 --host ha >>"$log" 2>&1 || { echo "forget failed" >>"$log"; return 1; }
		"$COFFER" -r "$R4" -q forget --keep-last 2 --host hb >>"$log" 2>&1 || { echo "forget failed" >>"$log"; return 1; }
		"$COFFER" -r "$R4" --json prune >>"$log.json" 2>>"$log" || { echo "prune failed" >>"$log"; return 1; }
	done
}
backups "$COFFER_HOME" "$TMP/sa" ha $((ROUNDS + 3)) "$TMP/la" &
pa=$!
backups "$H2" "$TMP/sb" hb $((ROUNDS + 3)) "$TMP/lb" &
pb=$!
prunes "$ROUNDS" "$TMP/lp" &
pp=$!
ok=1
wait "$pa" || ok=0
wait "$pb" || ok=0
wait "$pp" || ok=0
[ "$ok" = 1 ] || fail "a concurrent run failed: $(cat "$TMP/la" "$TMP/lb" "$TMP/lp" 2>/dev/null | tail -5)"
"$PY" -c '
import json, sys
t = {}
for l in open(sys.argv[1]):
    for k, v in json.loads(l).items():
        if k != "dry_run": t[k] = t.get(k, 0) + v
print("   concurrent prunes:", ", ".join("%s %d" % kv for kv in sorted(t.items())))' "$TMP/lp.json"
say "   both devices write once more, so every condemned pack ripens; prune twice"
run -r "$R4" backup --host ha "$TMP/sa"
expect_rc 0 "final backup a"
COFFER_HOME=$H2 run -r "$R4" backup --host hb "$TMP/sb"
expect_rc 0 "final backup b"
run -r "$R4" prune
expect_rc 0 "prune after the loops"
run -r "$R4" check --read-data
expect_rc 0 "check --read-data after concurrent prunes"
run -r "$R4" --json snapshots
"$PY" -c 'import json,sys; [print(s["id"]) for s in json.load(open(sys.argv[1]))]' "$TMP/out" >"$TMP/ids"
checked=0
while read -r id; do
	[ -f "$TMP/man/$id" ] || continue
	rm -rf "$TMP/rr"
	run -r "$R4" restore "$id" --target "$TMP/rr"
	expect_rc 0 "restore $id"
	src=$(cat "$TMP/man/$id.src")
	manifest "$TMP/rr$src" >"$TMP/got"
	cmp -s "$TMP/got" "$TMP/man/$id" || fail "snapshot $id does not restore byte for byte"
	checked=$((checked + 1))
done <"$TMP/ids"
[ "$checked" -ge 2 ] || fail "only $checked snapshots checked"
say "   $checked snapshots restored byte for byte"
say "ok"
