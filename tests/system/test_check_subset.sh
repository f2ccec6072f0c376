#!/bin/bash
# test_check_subset.sh - `check --read-data-subset P` (docs/format.md 16.5): each run reads
# ceil(P% of the packs), never verified first, so ceil(100/P) runs read every pack once; the
# state file COFFER_CACHE/<fingerprint>/verified holds one "<pack id> <unix time>" line per
# pack verified intact, the least recently verified is read first, a damaged pack is named
# (exit 13) and stays first in line, a garbage state file is tolerated, and a value that is
# not 0 < P <= 100 (with an optional '%') is a usage error (exit 2, one line).
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src

# Pack ids in the repository, sorted.
all_packs() {
	find "$R/packs" -type f -printf '%f\n' | sort
}

# Pack ids named by the state file, sorted (duplicates kept, so they show).
state_packs() {
	[ -f "$STATE" ] || return 0
	cut -d' ' -f1 "$STATE" | sort
}

# Field $1 of the JSON object a `--json check` printed.
check_json() {
	"$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/out" "$1"
}

# Every state line must be "<64 hex> <digits>" and name a pack that exists, once.
state_valid() {
	local bad
	bad=$(grep -cvE '^[0-9a-f]{64} [0-9]+$' "$STATE" || true)
	[ "$bad" = 0 ] || fail "$1: $bad malformed lines in the state file"
	[ -z "$(state_packs | uniq -d)" ] || fail "$1: a pack is listed twice in the state file"
	[ -z "$(comm -23 <(state_packs) <(all_packs))" ] ||
		fail "$1: the state file names a pack that does not exist"
}

say "ten backups of 1-2 MiB of random data"
mkrepo "$R"
for i in 0 1 2 3 4 5 6 7 8 9; do
	mkdir -p "$S/$i"
	head -c $((1048576 + i * 100000)) /dev/urandom >"$S/$i/data.bin"
	run -r "$R" -q backup "$S/$i"
	expect_rc 0 "backup $i"
done
N=$(all_packs | wc -l)
[ "$N" -ge 20 ] || fail "only $N packs after ten backups"
run -r "$R" --json devices list
expect_rc 0 "devices list"
FP=$(check_json fingerprint)
STATE=$COFFER_CACHE/$FP/verified
[ ! -e "$STATE" ] || fail "a state file exists before any data check"

say "plain check reads no pack and writes no state"
run -r "$R" --json check
expect_rc 0 "check"
"$PY" -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"ok": True, "errors": []}' \
	"$TMP/out" || fail "plain check --json is not {\"ok\":true,\"errors\":[]}"
[ ! -e "$STATE" ] || fail "plain check wrote the state file"

K=$(((N * 20 + 99) / 100))
say "$N packs: five runs of --read-data-subset 20 read $K new packs each, then all are read"
prev=$TMP/prev
: >"$prev"
for run_no in 1 2 3 4 5; do
	run -r "$R" --json check --read-data-subset 20
	expect_rc 0 "subset run $run_no"
	[ "$(check_json ok)" = True ] || fail "run $run_no: ok is not true"
	[ "$(check_json packs_read)" = "$K" ] ||
		fail "run $run_no: packs_read $(check_json packs_read), want $K"
	state_valid "run $run_no"
	want=$((run_no * K < N ? run_no * K : N))
	have=$(state_packs | wc -l)
	[ "$have" = "$want" ] || fail "run $run_no: $have packs verified, want $want (a pack read twice?)"
	[ -z "$(comm -23 "$prev" <(state_packs))" ] || fail "run $run_no: a verified pack was dropped"
	state_packs >"$prev"
done
[ "$(state_packs)" = "$(all_packs)" ] || fail "five runs of 20% did not cover every pack"

say "the least recently verified pack is read first; 0.001% still reads one pack"
mapfile -t ids < <(all_packs)
old=${ids[3]}
never=${ids[7]}
for id in "${ids[@]}"; do
	[ "$id" = "$never" ] && continue
	[ "$id" = "$old" ] && echo "$id 500" || echo "$id 1000"
done >"$STATE"
run -r "$R" --json check --read-data-subset 0.001%
expect_rc 0 "subset 0.001%"
[ "$(check_json packs_read)" = 1 ] || fail "0.001% read $(check_json packs_read) packs, want 1"
grep -q "^$never [0-9]*$" "$STATE" || fail "the never-verified pack was not read first"
grep -q "^$old 500$" "$STATE" || fail "the oldest pack was read before the never-verified one"
[ "$(grep -c ' 1000$' "$STATE")" = $((N - 2)) ] || fail "other packs' times changed"
run -r "$R" check --read-data-subset 0.001
expect_rc 0 "subset 0.001"
grep -q "^$old 500$" "$STATE" && fail "the oldest verified pack was not read next"
[ "$(grep -c ' 1000$' "$STATE")" = $((N - 2)) ] || fail "a newer pack was read before the oldest"
grep -q '^1 pack read$' "$TMP/out" || fail "the text output does not say '1 pack read'"

say "a garbage state file is tolerated and rewritten clean"
{
	head -c 3000 /dev/urandom
	printf '\n%s 12\n' "$(printf 'ab%.0s' $(seq 32))" # a pack that does not exist
	printf '%s\n' "${ids[0]}" "${ids[1]} -5" "${ids[2]} 99999999999999999999999" "zz ${ids[3]}"
	printf '%s 7 8\n%s 1x\n' "${ids[4]}" "${ids[5]}"
	head -c 300 /dev/zero | tr '\0' '7'
} >"$STATE"
run -r "$R" --json check --read-data-subset 20
expect_rc 0 "subset with a garbage state file"
[ "$(check_json packs_read)" = "$K" ] || fail "garbage state: packs_read $(check_json packs_read)"
state_valid "after a garbage state file"
[ "$(state_packs | wc -l)" = "$K" ] || fail "after a garbage state file: not $K lines"
printf '\0\0\0' >"$STATE"
run -r "$R" check --read-data-subset 5%
expect_rc 0 "subset with a binary state file"
rm -f "$STATE"
mkdir "$STATE"
run -r "$R" check --read-data-subset 5
expect_rc 0 "subset with a state path that cannot be written"
grep -q 'cannot record the verified packs' "$TMP/err" || fail "no note that the state was not kept"
rmdir "$STATE"

say "bad values are usage errors; good spellings are accepted"
for v in 0 0% 0.0 101 100.5 abc -5 "" 5.% .5 1e1 " 5" 5%% 0x10 200%; do
	run -r "$R" check --read-data-subset "$v"
	expect_rc 2 "--read-data-subset '$v'"
	one_line_error "--read-data-subset '$v'"
	grep -qF "'$v'" "$TMP/err" || fail "the message does not name '$v'"
done
run -r "$TMP/nowhere" check --read-data-subset abc
expect_rc 2 "a bad value is a usage error before the repository is opened"
run -r "$R" check --read-data --read-data-subset 5
expect_rc 2 "--read-data with --read-data-subset"
one_line_error "--read-data with --read-data-subset"
run -r "$R" check --read-data-subset
expect_rc 2 "--read-data-subset without a value"
for v in 5 5% 2.5% 100 0.0000001 007.50%; do
	run -r "$R" --json check --read-data-subset "$v"
	expect_rc 0 "--read-data-subset '$v'"
done
run -r "$R" help check
grep -q -- '--read-data-subset PERCENT' "$TMP/out" || fail "help check does not show the option"

say "--read-data records every pack"
run -r "$R" check --read-data
expect_rc 0 "check --read-data"
[ "$(state_packs)" = "$(all_packs)" ] || fail "--read-data did not record every pack"
grep -q "^$N packs read$" "$TMP/out" || fail "--read-data does not say '$N packs read'"

say "a damaged pack: named, exit 13, stays first in line; --read-data fails too"
bad=$(find "$R/packs" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
badid=$(basename "$bad")
"$PY" - "$bad" <<'EOF'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x55]))
EOF
grep -v "^$badid " "$STATE" >"$STATE.new"
mv "$STATE.new" "$STATE"
run -r "$R" check --read-data-subset 1
expect_rc 13 "subset check reaching the damaged pack"
grep -q "packs/$badid" "$TMP/err" || fail "the damaged pack is not named"
grep -q "^$badid " "$STATE" && fail "the damaged pack was recorded as verified"
run -r "$R" --json check --read-data-subset 1
expect_rc 13 "second subset check"
[ "$(check_json ok)" = False ] || fail "--json ok is not false"
[ "$(check_json packs_read)" = 1 ] || fail "damaged: packs_read $(check_json packs_read)"
grep -q "packs/$badid" "$TMP/out" || fail "the damaged pack is not first in line again"
run -r "$R" check --read-data
expect_rc 13 "check --read-data with a damaged pack"
grep -q "packs/$badid" "$TMP/err" || fail "--read-data does not name the damaged pack"
grep -q "^$badid " "$STATE" && fail "--read-data recorded the damaged pack"
[ "$(state_packs | wc -l)" = $((N - 1)) ] || fail "--read-data did not record the intact packs"

say "ok"
