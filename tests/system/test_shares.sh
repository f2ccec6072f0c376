#!/bin/bash
# test_shares.sh - recovery shares through the real binary (docs/format.md 10.3): split the
# recovery key 3-of-5; 2 shares are refused, any 3 (several subsets) rebuild the original code;
# the rebuilt key file restores an identical tree on a blank COFFER_HOME; a share with one
# character changed, shares forged with valid checksums (K-1 shares relabelled, a changed
# byte), a repeated share, shares of two splits and a key of another repository are refused
# with one-line errors; share files are 0600 and never overwritten; shares wrapped
# to devices (--to) open only on the device they are wrapped to, and 'recovery unwrap' hands a
# plain share over.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src
SH=$TMP/shares
HOME_A=$COFFER_HOME

# The code line of a recovery key file.
code_of() {
	grep -v '^#' "$1" | grep -v '^[[:space:]]*$'
}

# The code printed by 'recovery combine' (its indented line).
printed_code() {
	sed -n 's/^  \([0-9A-Z]\{4\}\(-[0-9A-Z]\{4\}\)\{13\}\)$/\1/p' "$TMP/out"
}

share() {
	echo "$SH/coffer-share-$1-of-5.txt"
}

say "a repository with one snapshot of a small tree"
mkdir -p "$S/sub/deeper" "$S/empty"
printf 'hello\n' >"$S/a.txt"
head -c 300000 /dev/urandom >"$S/sub/random.bin"
seq 1 20000 >"$S/sub/deeper/numbers.txt"
: >"$S/sub/empty-file"
mkrepo "$R"
run -r "$R" backup "$S"
expect_rc 0 "backup"
ORIG=$(code_of "$R.rk")

say "usage errors exit 2 and write nothing"
for args in "--threshold 1 --shares 3" "--threshold 4 --shares 3" "--threshold 2 --shares 256" \
	"--threshold x --shares 3" "--shares 3" "--threshold 2 --shares 3 --to $R.rk"; do
	# shellcheck disable=SC2086
	run -r "$R" recovery split $args --recovery-key-file "$R.rk" --out "$SH"
	expect_rc 2 "split $args"
	one_line_error "split $args"
done
run -r "$R" recovery split --threshold 2 --shares 3 --out "$SH"
expect_rc 2 "split without a recovery key"
run -r "$R" recovery frobnicate
expect_rc 2 "unknown recovery command"
[ ! -e "$SH" ] || [ -z "$(ls -A "$SH")" ] || fail "a refused split wrote files"

say "split 3-of-5: five files, mode 0600, their paths printed"
run -r "$R" recovery split --threshold 3 --shares 5 --recovery-key-file "$R.rk" --out "$SH"
expect_rc 0 "split"
[ "$(wc -l <"$TMP/out")" = 5 ] || fail "split printed $(wc -l <"$TMP/out") lines, want 5"
for i in 1 2 3 4 5; do
	f=$(share $i)
	grep -qxF "$f" "$TMP/out" || fail "split did not print $f"
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f: mode $(stat -c %a "$f"), want 600"
	grep -q "^coffer-share-1 [0-9a-f]\{64\} 3 $i " "$f" || fail "$f: no share line of index $i"
done
grep -q "$ORIG" "$SH"/* && fail "a share file contains the recovery key itself"

say "split never overwrites a share file"
cp "$(share 2)" "$TMP/share2.copy"
run -r "$R" recovery split --threshold 3 --shares 5 --recovery-key-file "$R.rk" --out "$SH"
expect_rc 1 "split over existing shares"
one_line_error "split over existing shares"
cmp -s "$(share 2)" "$TMP/share2.copy" || fail "split overwrote $(share 2)"

say "two shares of a 3-of-5 split are refused"
for pair in "1 2" "4 5" "2 5"; do
	# shellcheck disable=SC2086
	set -- $pair
	run recovery combine "$(share "$1")" "$(share "$2")"
	expect_rc 1 "combine $pair"
	one_line_error "combine $pair"
	grep -q "coffer-share-$1-of-5.txt" "$TMP/err" || fail "combine $pair: error names no file"
	[ -z "$(printed_code)" ] || fail "combine $pair printed a key"
done

say "any three (or more) shares give back the original code"
for set in "1 2 3" "3 4 5" "1 3 5" "2 4 5" "5 1 4" "1 2 3 4 5" "2 3 4 5"; do
	files=()
	for i in $set; do files+=("$(share "$i")"); done
	run recovery combine "${files[@]}"
	expect_rc 0 "combine $set"
	[ "$(printed_code)" = "$ORIG" ] || fail "combine $set: printed another code"
done

say "with -r, combine also checks the key against the repository's chain"
run -r "$R" recovery combine "$(share 1)" "$(share 3)" "$(share 4)"
expect_rc 0 "combine -r"
[ "$(printed_code)" = "$ORIG" ] || fail "combine -r: printed another code"

say "combine --recovery-key-file writes a key file (0600) like init does, never over one"
run recovery combine "$(share 2)" "$(share 4)" "$(share 5)" --recovery-key-file "$TMP/comb.rk"
expect_rc 0 "combine to a file"
[ "$(stat -c %a "$TMP/comb.rk")" = 600 ] || fail "combined key file mode, want 600"
[ "$(code_of "$TMP/comb.rk")" = "$ORIG" ] || fail "combined key file holds another code"
grep -q '^# Coffer recovery key of repository [0-9a-f]\{64\}$' "$TMP/comb.rk" ||
	fail "combined key file has no repository comment"
run recovery combine "$(share 1)" "$(share 2)" "$(share 3)" --recovery-key-file "$TMP/comb.rk"
expect_rc 1 "combine over an existing key file"
[ "$(code_of "$TMP/comb.rk")" = "$ORIG" ] || fail "combine overwrote the key file"

say "the rebuilt key alone, on a blank home, restores an identical tree"
export COFFER_HOME=$TMP/blank
run -r "$R" --recovery-key-file "$TMP/comb.rk" restore latest --target "$TMP/restored"
expect_rc 0 "restore with the rebuilt key"
diff -r "$S" "$TMP/restored$S" >"$TMP/diff" 2>&1 || fail "restored tree differs: $(head -5 "$TMP/diff")"
export COFFER_HOME=$HOME_A

say "a share with one character changed is refused, naming it"
"$PY" - "$(share 3)" "$TMP/bad" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = [n for n, l in enumerate(lines) if l.startswith("coffer-share-1 ")][0]
alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
line = lines[i]
pos = len(line) - 12                        # a payload symbol, not a dash
while line[pos] == "-":
    pos -= 1
line = line[:pos] + alphabet[(alphabet.index(line[pos]) + 1) % 32] + line[pos + 1:]
lines[i] = line
open(sys.argv[2] + "_payload", "w").write("\n".join(lines))
# the index field (3 -> 2): the checksum covers the header too
f = line.split(" ")
f[3] = "2"
lines[i] = " ".join(f)
open(sys.argv[2] + "_index", "w").write("\n".join(lines))
EOF
for kind in payload index; do
	run recovery combine "$(share 1)" "$TMP/bad_$kind" "$(share 5)"
	expect_rc 1 "combine with a changed $kind"
	one_line_error "combine with a changed $kind"
	grep -q "bad_$kind" "$TMP/err" || fail "changed $kind: the error does not name the file"
	[ -z "$(printed_code)" ] || fail "changed $kind: a key was printed"
done

say "forged shares with valid checksums (written from the spec in Python) fail the keycheck"
# Python re-implements the share line of docs/format.md 10.3 (Crockford base32 of
# share || BLAKE2b-256("coffer.v1.share" || header || share)[0..3]): re-encoding an
# untouched share must give its line back byte for byte.
"$PY" - "$SH" "$TMP" <<'EOF2'
import hashlib, sys
A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
def line_of(path):
    return [l for l in open(path).read().split("\n") if l.startswith("coffer-share-1 ")][0]
def dec(p):
    v = 0
    for c in p.replace("-", ""):
        v = v * 32 + A.index(c)
    return v.to_bytes(35, "big")
def enc(raw):
    v, s = int.from_bytes(raw, "big"), ""
    for _ in range(56):
        s, v = A[v & 31] + s, v >> 5
    return "-".join(s[i:i + 4] for i in range(0, 56, 4))
def forge(line, k=None, flip=False):
    f = line.split(" ")
    fp, K, x = bytes.fromhex(f[1]), int(f[2]), int(f[3])
    split, kc, y = bytes.fromhex(f[4]), bytes.fromhex(f[5]), dec(f[6])[:32]
    K = k or K
    if flip:
        y = bytes([y[0] ^ 1]) + y[1:]
    msg = b"coffer.v1.share" + fp + bytes([K, x]) + split + kc + y
    f[2], f[6] = str(K), enc(y + hashlib.blake2b(msg, digest_size=32).digest()[:3])
    return " ".join(f)
sh, tmp = sys.argv[1], sys.argv[2]
share = lambda i: "%s/coffer-share-%d-of-5.txt" % (sh, i)
if forge(line_of(share(2))) != line_of(share(2)):
    sys.exit("the Python encoder does not reproduce a share line")
for i in (1, 2):
    open("%s/relabel%d" % (tmp, i), "w").write(forge(line_of(share(i)), k=2) + "\n")
open(tmp + "/forged3", "w").write(forge(line_of(share(3)), flip=True) + "\n")
EOF2
run recovery combine "$TMP/relabel1" "$TMP/relabel2"
expect_rc 1 "two shares relabelled 2-of-N"
one_line_error "two shares relabelled 2-of-N"
grep -q "do not rebuild" "$TMP/err" || fail "relabelled shares: not refused by the keycheck"
[ -z "$(printed_code)" ] || fail "relabelled shares: a key was printed"
run recovery combine "$(share 1)" "$TMP/forged3" "$(share 5)"
expect_rc 1 "a forged share among three"
grep -q "do not rebuild" "$TMP/err" || fail "forged share: not refused by the keycheck"
run recovery combine "$(share 1)" "$TMP/forged3" "$(share 4)" "$(share 5)"
expect_rc 1 "a forged share among four"
one_line_error "a forged share among four"
grep -q "share '$TMP/forged3' does not fit the others" "$TMP/err" ||
	fail "forged share among four: not singled out"

say "the same share twice, or shares of two different splits, are refused"
run recovery combine "$(share 1)" "$(share 2)" "$(share 2)"
expect_rc 1 "repeated share"
one_line_error "repeated share"
run -r "$R" recovery split --threshold 3 --shares 5 --recovery-key-file "$R.rk" --out "$TMP/sh2"
expect_rc 0 "second split"
run recovery combine "$(share 1)" "$(share 2)" "$TMP/sh2/coffer-share-3-of-5.txt"
expect_rc 1 "shares of two splits"
one_line_error "shares of two splits"
grep -q "sh2/coffer-share-3-of-5.txt" "$TMP/err" || fail "two splits: the odd file is not named"

say "a recovery key of another repository is refused by split (exit 12)"
export COFFER_HOME=$TMP/homeB
mkrepo "$TMP/repoB"
export COFFER_HOME=$HOME_A
run -r "$R" recovery split --threshold 2 --shares 2 --recovery-key-file "$TMP/repoB.rk" \
	--out "$TMP/sh3"
expect_rc 12 "split with another repository's key"
one_line_error "split with another repository's key"
run -r "$TMP/repoB" recovery combine "$(share 1)" "$(share 2)" "$(share 3)"
expect_rc 1 "combine -r with another repository"
one_line_error "combine -r with another repository"

say "--to: shares wrapped to devices open only on the device they are wrapped to"
public_key() {
	run -r "$1" devices list
	sed -n 's/.*public key: *\([0-9a-f]\{64\}\).*/\1/p' "$TMP/out" | head -1
}
PUB_A=$(public_key "$R")
export COFFER_HOME=$TMP/homeB
PUB_B=$(public_key "$TMP/repoB")
export COFFER_HOME=$HOME_A
if [ -z "$PUB_A" ] || [ -z "$PUB_B" ]; then
	say "SKIP --to: 'coffer devices list' prints no 'public key:' line yet (unit tests cover it)"
	exit 0
fi
printf '# device B\n%s\n' "$PUB_B" >"$TMP/b.pub"
printf '%s\n' "$PUB_A" >"$TMP/a.pub"
W=$TMP/wrapped
run -r "$R" recovery split --threshold 2 --shares 3 --recovery-key-file "$R.rk" --out "$W" \
	--to "$TMP/b.pub" --to "$TMP/a.pub" --to "$TMP/b.pub"
expect_rc 0 "split --to"
w() {
	echo "$W/coffer-share-$1-of-3.txt"
}
grep -q " w:$PUB_B:" "$(w 1)" || fail "share 1 is not wrapped to device B"
grep -q " w:$PUB_A:" "$(w 2)" || fail "share 2 is not wrapped to device A"

export COFFER_HOME=$TMP/homeB
run recovery combine "$(w 1)" "$(w 3)"
expect_rc 0 "device B combines its two wrapped shares"
[ "$(printed_code)" = "$ORIG" ] || fail "device B: another code"
run recovery unwrap "$(w 1)" --out "$TMP/plain1.txt"
expect_rc 0 "device B unwraps share 1"
[ "$(stat -c %a "$TMP/plain1.txt")" = 600 ] || fail "unwrapped share mode, want 600"
grep -q ' w:' "$TMP/plain1.txt" && fail "unwrapped share is still wrapped"
run recovery unwrap "$TMP/plain1.txt"
expect_rc 1 "unwrap of a plain share"

export COFFER_HOME=$HOME_A
run recovery combine "$(w 1)" "$(w 2)"
expect_rc 1 "device A cannot open a share wrapped to B"
one_line_error "device A, share wrapped to B"
grep -q "coffer-share-1-of-3.txt" "$TMP/err" || fail "wrapped to B: the file is not named"
run recovery combine "$TMP/plain1.txt" "$(w 2)"
expect_rc 0 "device A: B's unwrapped share and its own wrapped one"
[ "$(printed_code)" = "$ORIG" ] || fail "device A: another code"

export COFFER_HOME=$TMP/blank3
run recovery combine "$(w 1)" "$(w 3)"
expect_rc 1 "a blank home cannot open wrapped shares"
one_line_error "blank home, wrapped shares"

say "ok"
