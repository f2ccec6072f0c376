#!/bin/bash
# test_restore_runs.sh - a restore through cofferd fetches neighbouring chunks together: 800
# small files in 40 directories and three larger files come back identical in a few dozen
# ranged requests (cofferd's own request counter), not one per chunk and tree. Batches of
# small files across many directories hold few directory descriptors: 600 directories
# restore with a limit of 128 open files. A pack damaged
# on the server fails only the files whose chunks it broke (exit 13, each named); the other
# chunks of the same fetched runs are still restored, and nothing wrong is ever written. The
# same from a local repository, whose packs are read directly into kept buffers and whose
# large files' chunks are decoded straight into the direct-write stage. A forged index object
# that names each blob of a genuine pack one byte short does not stop a restore: the good
# copy in the same pack is found.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

need_cofferd
D=$TMP/server

requests() { # every request cofferd has answered so far
	curl -sf "$URL/metrics" | awk '/^cofferd_requests_total/ { n += $2 } END { print n + 0 }'
}

# damage_pack DIR: flip bytes spread over the largest pack under DIR (none in its header)
damage_pack() {
	"$PY" - "$1" <<'PY'
import os, sys
packs = []
for top, _dirs, files in os.walk(sys.argv[1]):
    if os.sep + "packs" + os.sep in top + os.sep:
        packs += [os.path.join(top, f) for f in files]
big = max(packs, key=os.path.getsize)
size = os.path.getsize(big)
with open(big, "r+b") as f:
    for k in range(1, 40):  # spread over the pack: some land in chunks, none in the header
        f.seek(size * k // 41)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x55]))
PY
}

# some_lost SRC DST: some files of SRC are missing from DST, the rest identical, none wrong
some_lost() {
	"$PY" - "$1" "$2" <<'PY'
import filecmp, os, sys
src, dst = sys.argv[1:]
missing = same = 0
for top, _dirs, files in os.walk(src):
    for f in files:
        a = os.path.join(top, f)
        b = os.path.join(dst, os.path.relpath(a, src))
        if not os.path.exists(b):
            missing += 1
        elif not filecmp.cmp(a, b, shallow=False):
            sys.exit("WRONG CONTENT restored to " + b)
        else:
            same += 1
if missing == 0 or same == 0:
    sys.exit("expected some files lost and the rest restored: %d lost, %d restored" % (missing, same))
print("  %d files lost with the damaged chunks, %d restored" % (missing, same))
PY
}

say "a tree of 800 small files in 40 directories and three of 3 MiB"
S=$TMP/src
"$PY" - "$S" <<'PY'
import os, random, sys
rng = random.Random(20261130)
root = sys.argv[1]
for d in range(40):
    sub = os.path.join(root, "d%02d" % d, "inner")
    os.makedirs(sub)
    for f in range(20):
        with open(os.path.join(os.path.dirname(sub) if f % 2 else sub, "f%02d" % f), "wb") as o:
            o.write(rng.randbytes(rng.randrange(1, 6000)))
for i in range(3):
    with open(os.path.join(root, "big%d" % i), "wb") as o:
        o.write(rng.randbytes(3 << 20))
PY

"$COFFERD_BIN" init --data "$D" >/dev/null
TOK=$("$COFFERD_BIN" admin --data "$D" create-account runs --quota 1G)
serve_cofferd "$D"
run -r "$URL/runs" init --token "$TOK" --recovery-key-file "$TMP/runs.rk"
expect_rc 0 "init"
run -r "$URL/runs" backup "$S"
expect_rc 0 "backup"

say "restore: identical, in few requests"
before=$(requests)
run -r "$URL/runs" restore latest --target "$TMP/r1"
expect_rc 0 "restore"
used=$(($(requests) - before))
treecmp "$S" "$TMP/r1$S"
# one request per chunk and tree would be over 850; runs and tree windows need a few dozen
[ "$used" -le 120 ] || fail "the restore took $used requests (want at most 120)"
say "  $used requests"

say "a damaged data pack: exit 13, the damaged files named, every other file restored"
damage_pack "$D"
run -r "$URL/runs" restore latest --target "$TMP/r2"
expect_rc 13 "restore from a damaged pack"
grep -q "cannot restore '$S/" "$TMP/err" || fail "no damaged file was named: $(head -3 "$TMP/err")"
some_lost "$S" "$TMP/r2$S"
say "600 directories of two files each, restored with at most 128 open files"
S2=$TMP/dirs
"$PY" - "$S2" <<'PY'
import os, sys
for d in range(600):
    sub = os.path.join(sys.argv[1], "g%d" % (d // 30), "d%03d" % d)
    os.makedirs(sub)
    for f in range(2):
        with open(os.path.join(sub, "f%d" % f), "w") as o:
            o.write("%d %d\n" % (d, f))
PY
run -r "$URL/runs" backup "$S2"
expect_rc 0 "backup of the directories"
rc=0
(ulimit -n 128 && exec "$COFFER" -r "$URL/runs" restore latest --target "$TMP/r3") \
	>"$TMP/out" 2>"$TMP/err" || rc=$?
expect_rc 0 "restore of 600 directories with 128 open files"
treecmp "$S2" "$TMP/r3$S2"

say "a local repository (direct reads, chunks decoded into the write stage): identical; a"
say "   damaged pack: exit 13, the damaged files named, nothing wrong written"
L=$TMP/local
mkrepo "$L"
run -r "$L" backup "$S"
expect_rc 0 "local backup"
run -r "$L" restore latest --target "$TMP/r4"
expect_rc 0 "local restore"
treecmp "$S" "$TMP/r4$S"
damage_pack "$L"
run -r "$L" restore latest --target "$TMP/r5"
expect_rc 13 "local restore from a damaged pack"
grep -q "cannot restore '$S/big" "$TMP/err" || fail "no damaged large file was named"
some_lost "$S" "$TMP/r5$S"

say "a forged index object naming every blob of the genuine packs one byte short (it sorts"
say "   first): restore falls back to the good copy in the same pack; check --read-data passes"
M=$TMP/misplaced
mkrepo "$M"
run -r "$M" backup "$S"
expect_rc 0 "backup before the forgery"
[ -n "${CF_FORGE:-}" ] || fail "CF_FORGE is not set"
n=$("$CF_FORGE" misplace-index "$M") || fail "misplace-index failed"
[ "$n" -gt 0 ] || fail "misplace-index named no pack"
run -r "$M" restore latest --target "$TMP/r6"
expect_rc 0 "restore past blobs named one byte short in their own pack"
treecmp "$S" "$TMP/r6$S"
run -r "$M" check --read-data
expect_rc 0 "check --read-data with the misplaced copies"

say "ok"
