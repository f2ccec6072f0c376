#!/bin/bash
# test_plaintext.sh - the repository reveals no plaintext (P1): random markers placed in file
# contents (compressible text, incompressible data, tiny files), file and directory names,
# symlink targets, xattr values, the host name and tags, are nowhere in the repository's
# bytes or names after a backup, nor in the local cache. Neither are the device's secret
# keys (from COFFER_HOME/device.key) or the recovery key (decoded from its code).
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src

marker() {
	"$PY" -c 'import secrets; print("M" + secrets.token_hex(12))'
}
m_text=$(marker)
m_rand=$(marker)
m_small=$(marker)
m_fname=$(marker)
m_dname=$(marker)
m_link=$(marker)
m_xattr=$(marker)
m_host=$(marker)
m_tag=$(marker)
markers=("$m_text" "$m_rand" "$m_small" "$m_fname" "$m_dname" "$m_link" "$m_xattr" "$m_host"
	"$m_tag")

say "building a tree with markers in contents, names, link targets and xattrs"
mkdir -p "$S/sub-$m_dname/deeper"
"$PY" - "$S" "$m_text" "$m_rand" <<'EOF'
import os, sys
src, m_text, m_rand = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
# Compressible text (zstd will shrink it) with the marker many times.
with open(os.path.join(src, "notes.txt"), "wb") as f:
    for i in range(20000):
        f.write(b"line %d: the quick brown fox %s jumps\n" % (i, m_text))
# Incompressible data (stored uncompressed) with the marker in it, larger than one chunk.
with open(os.path.join(src, "random.bin"), "wb") as f:
    for i in range(3):
        f.write(os.urandom(700 * 1024))
        f.write(m_rand)
EOF
printf '%s' "$m_small" >"$S/tiny"
printf 'x\n' >"$S/sub-$m_dname/deeper/file-$m_fname.txt"
ln -s "../target-$m_link" "$S/sub-$m_dname/link"
if ! "$PY" -c 'import os,sys; os.setxattr(sys.argv[1], "user.note", sys.argv[2].encode())' \
	"$S/tiny" "$m_xattr" 2>/dev/null; then
	say "xattrs not supported here: the xattr marker is left out"
	printf '%s' "$m_xattr" >"$S/xattr-fallback"
fi

say "sanity: plainscan finds the markers in the source tree"
rc=0
"$PY" "$LIB/plainscan.py" "$S" "${markers[@]:0:7}" >"$TMP/scan" || rc=$?
[ "$rc" = 1 ] || fail "plainscan does not see the markers in the source (exit $rc)"
for m in "${markers[@]:0:5}"; do # symlink targets are not scanned in the source
	grep -q "^$m found" "$TMP/scan" || fail "plainscan misses marker $m in the source"
done

mkrepo "$R"
run -r "$R" --json backup --host "host-$m_host" --tag "tag-$m_tag" "$S"
expect_rc 0 "backup"
run -r "$R" --json backup --host "host-$m_host" --tag "tag-$m_tag" "$S"
expect_rc 0 "second backup"
run -r "$R" restore latest --target "$TMP/restored"
expect_rc 0 "restore"
treecmp "$S" "$TMP/restored$S"
run -r "$R" --json snapshots
grep -q "host-$m_host" "$TMP/out" || fail "the host marker did not make it into the snapshot"

say "the repository holds none of the markers, in contents or names"
rc=0
"$PY" "$LIB/plainscan.py" "$R" "${markers[@]}" >"$TMP/scan" 2>&1 || rc=$?
[ "$rc" = 0 ] || {
	head -20 "$TMP/scan" >&2
	fail "plaintext found in the repository (plainscan exit $rc)"
}

say "the cache and COFFER_HOME hold none of the markers"
for d in "$COFFER_CACHE" "$COFFER_HOME"; do
	[ -d "$d" ] || continue
	rc=0
	"$PY" "$LIB/plainscan.py" "$d" "${markers[@]}" >"$TMP/scan" 2>&1 || rc=$?
	[ "$rc" = 0 ] || {
		head -20 "$TMP/scan" >&2
		fail "plaintext found in $d (plainscan exit $rc)"
	}
done

say "the repository holds neither the device's secret keys nor the recovery key"
keys=$("$PY" - "$COFFER_HOME/device.key" "$R.rk" <<'EOF'
import hashlib, sys
dk = open(sys.argv[1], "rb").read()
# docs/format.md section 12: prefix (8) | kdf u8 = 0 | sign_seed 32 | box_sk 32 | ...
if dk[:4] != b"COFR" or dk[4] != 6 or dk[8] != 0:
    sys.exit("device.key is not an unencrypted device key file")
out = ["hex:" + dk[9:41].hex(), "hex:" + dk[41:73].hex()]
# docs/format.md section 9: 56 Crockford base32 symbols of RK (32) || checksum (3).
alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
code = [l for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")][0].strip()
sym = code.replace("-", "").upper()
if len(sym) != 56:
    sys.exit("recovery code has %d symbols" % len(sym))
n = 0
for c in sym:
    n = n * 32 + alpha.index(c)
raw = n.to_bytes(35, "big")
check = hashlib.blake2b(b"coffer.v1.recovery-check" + raw[:32], digest_size=32).digest()[:3]
if raw[32:] != check:
    sys.exit("recovery code decoded wrongly (checksum mismatch)")
out += ["hex:" + raw[:32].hex(), code, sym, code.lower()]
print("\n".join(out))
EOF
) || fail "cannot read the key material"
mapfile -t keyargs <<<"$keys"
for d in "$R" "$COFFER_CACHE"; do
	[ -d "$d" ] || continue
	rc=0
	"$PY" "$LIB/plainscan.py" "$d" "${keyargs[@]}" >"$TMP/scan" 2>&1 || rc=$?
	[ "$rc" = 0 ] || {
		head -20 "$TMP/scan" >&2
		fail "key material found in $d (plainscan exit $rc)"
	}
done
rc=0
"$PY" "$LIB/plainscan.py" "$COFFER_HOME" "${keyargs[@]:0:2}" >"$TMP/scan" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "sanity: the device key bytes were not found in device.key itself"

say "ok"
