#!/bin/bash
# test_cofferd.sh - cofferd through raw HTTP (docs/format.md 15): health and metrics,
# enrollment with single-use tokens, signed requests refused when unsigned, forged, replayed,
# skewed or sent as another device; unknown and foreign accounts answer 404 alike; size
# limits before authentication; write-once for everybody; content hashes and addresses
# checked; quotas refused before the body is read; join requests and the pending device's
# view; chain appends verified by the server (corrupt entry, gap), roles from the chain
# (backup-only: no delete, no undelete), revocation; soft delete, undelete, gc after the
# retention window; ranged GET, HEAD, paginated listing; no secrets in the log; SIGTERM
# exits 0 and leaves nothing half-stored, whether the upload in flight finishes or not.
#
# Needs COFFERD_BIN (skipped without it), COFFER_BIN (repositories, device keys, join
# requests and chain entries are made by the real client on local directories, then
# uploaded) and CF_HTTP (tests/tools/cf_http.c, which signs requests).
set -euo pipefail
if [ -z "${COFFERD_BIN:-}" ]; then
	echo "test_cofferd: skipped (COFFERD_BIN not set)"
	exit 0
fi
CF_HTTP=${CF_HTTP:?CF_HTTP must name the cf_http test tool}
# shellcheck source=tests/system/_common.sh
. "$(dirname "$0")/_common.sh"

D=$TMP/data
# COFFERD_STORES (set by test_scaleout.sh): "--meta postgres://... --blobs s3://..." to run
# everything against PostgreSQL and S3; the checks of the on-disk layout are then skipped.
read -r -a STORES <<<"${COFFERD_STORES:-}"
on_disk() { [ "${#STORES[@]}" = 0 ]; }
LOG=$TMP/serve.log
SPID=
EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
U=http://127.0.0.1:$PORT

stop_server() {
	if [ -n "$SPID" ]; then
		kill -TERM "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
		SPID=
	fi
}
trap 'stop_server; chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT

start_server() {
	"$COFFERD_BIN" serve --data "$D" "${STORES[@]}" --listen "127.0.0.1:$PORT" --threads 4 "$@" 2>>"$LOG" &
	SPID=$!
	for _ in $(seq 100); do
		if curl -sf "$U/healthz" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || fail "cofferd serve exited at start: $(tail -3 "$LOG")"
		sleep 0.1
	done
	fail "cofferd did not answer /healthz"
}

adm() {
	"$COFFERD_BIN" admin --data "$D" "${STORES[@]}" "$@"
}

# st KEY URL [cf_http options]: the status of one signed request.
st() {
	local key=$1 url=$2
	shift 2
	"$CF_HTTP" --key "$key" --url "$url" --print-status "$@"
}

# want STATUS WHAT KEY URL [options]: fail unless the signed request answers STATUS.
want() {
	local status=$1 what=$2 got
	shift 2
	got=$(st "$@") || fail "$what: cf_http failed"
	[ "$got" = "$status" ] || fail "$what: status $got, want $status"
}

# curl_status [curl options]: the status of an unsigned request.
curl_status() {
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

# mkobj KIND_BYTE SIZE FILE: an object with a valid prefix and random bytes; prints SHA-256.
mkobj() {
	"$PY" -c '
import os, sys
kind, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
open(path, "wb").write(b"COFR" + bytes([kind, 1, 0, 0]) + os.urandom(size - 8))' "$1" "$2" "$3"
	sha256sum "$3" | cut -d' ' -f1
}

# newrepo NAME: a local repository made by the real client, and its device home.
newrepo() {
	COFFER_HOME=$TMP/home_$1 "$COFFER" -r "$TMP/repo_$1" init --device-name "$1" \
		--recovery-key-file "$TMP/$1.rk" >/dev/null 2>&1 || fail "coffer init $1"
}

# ---------------------------------------------------------------------------------------
say "init: data directory mode 0700, database and blob directory"
"$COFFERD_BIN" init --data "$D" "${STORES[@]}" >/dev/null || fail "cofferd init"
[ "$(stat -c %a "$D")" = 700 ] || fail "data directory mode $(stat -c %a "$D")"
if on_disk; then
	{ [ -f "$D/cofferd.db" ] && [ -d "$D/blobs/.tmp" ]; } || fail "init did not create the layout"
	if "$COFFERD_BIN" init --data "$D" >/dev/null 2>&1; then fail "init over existing data"; fi
fi

say "admin: accounts with single-use tokens; names checked"
TA=$(adm create-account alice --quota 2M) || fail "create-account alice"
TB=$(adm create-account bob --quota 20M) || fail "create-account bob"
[[ $TA =~ ^[0-9a-f]{64}$ ]] || fail "token '$TA' is not 64 hex digits"
if adm create-account alice --quota 1M >/dev/null 2>&1; then fail "account created twice"; fi
if adm create-account 'Bad/Name' --quota 1M >/dev/null 2>&1; then fail "bad account name"; fi
adm list-accounts | grep -q '^alice quota=2097152 used=0 devices=0 awaiting-enrollment' ||
	fail "list-accounts: $(adm list-accounts)"
grep -rqa "$TA" "$D" && fail "the token itself is stored in the data directory"

start_server
say "healthz, metrics, unknown paths"
[ "$(curl -s "$U/healthz")" = ok ] || fail "/healthz"
curl -s "$U/metrics" | grep -q '^cofferd_requests_total{method="GET",code="200"}' ||
	fail "/metrics has no request counter"
curl -s "$U/metrics" | grep -q '^cofferd_request_duration_seconds_bucket{le="+Inf"}' ||
	fail "/metrics has no latency histogram"
[ "$(curl_status "$U/nothing")" = 404 ] || fail "unknown path"
[ "$(curl_status -X DELETE "$U/healthz")" = 405 ] || fail "DELETE /healthz"

say "enrollment: wrong token, unknown account, then the token works once"
newrepo alice
newrepo bob
KA=$TMP/home_alice/device.key
KB=$TMP/home_bob/device.key
GA=$TMP/repo_alice/chain/0000000000000000
GB=$TMP/repo_bob/chain/0000000000000000
[ "$(curl_status -X POST -H "X-Coffer-Token: $TB" --data-binary @"$GA" "$U/v1/alice/enroll")" = 401 ] ||
	fail "enroll with another account's token"
[ "$(curl_status -X POST -H "X-Coffer-Token: $TA" --data-binary @"$GA" "$U/v1/nobody/enroll")" = 401 ] ||
	fail "enroll of an unknown account"
[ "$(curl_status -X POST --data-binary @"$GA" "$U/v1/alice/enroll")" = 401 ] ||
	fail "enroll without a token"
[ "$(curl_status -X POST -H "X-Coffer-Token: $TA" --data-binary @"$GA" "$U/v1/alice/enroll")" = 201 ] ||
	fail "enroll alice"
[ "$(curl_status -X POST -H "X-Coffer-Token: $TA" --data-binary @"$GA" "$U/v1/alice/enroll")" = 401 ] ||
	fail "a burned token enrolled again"
[ "$(curl_status -X POST -H "X-Coffer-Token: $TB" --data-binary @"$GB" "$U/v1/bob/enroll")" = 201 ] ||
	fail "enroll bob"
adm list-accounts | grep -q '^alice .* devices=1 enrolled' || fail "alice not enrolled"
grep -q "$TA\|$TB" "$LOG" && fail "a token is in the log"

# ---------------------------------------------------------------------------------------
say "signed requests: listing the chain, fetching the genesis entry"
want 200 "list alice's chain" "$KA" "$U/v1/alice/chain/"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/chain/" >"$TMP/out" || fail "list chain"
[ "$(cat "$TMP/out")" = "0000000000000000 $(stat -c %s "$GA")" ] || fail "chain listing: $(cat "$TMP/out")"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/chain/0000000000000000" --out "$TMP/g" || fail "GET genesis"
cmp -s "$TMP/g" "$GA" || fail "the genesis entry came back different"

say "unauthenticated, forged, replayed and skewed requests: 401"
[ "$(curl_status "$U/v1/alice/chain/")" = 401 ] || fail "unsigned request"
[ "$(curl_status -H "X-Coffer-Content-SHA256: $EMPTY" "$U/v1/alice/chain/")" = 401 ] ||
	fail "unsigned request with a content hash"
want 401 "bad signature" "$KA" "$U/v1/alice/chain/" --bad-sig
want 401 "signature over another path" "$KA" "$U/v1/alice/chain/" --sign-path /v1/alice/keys/
want 401 "signature over another query" "$KA" "$U/v1/alice/chain/?limit=5" --sign-path "/v1/alice/chain/?limit=6"
IDB=$(COFFER_HOME=$TMP/home_bob "$COFFER" -r "$TMP/repo_bob" --json devices list |
	"$PY" -c 'import json, sys; print([d["id"] for d in json.load(sys.stdin)["devices"] if d["self"]][0])')
want 401 "alice's key claiming bob's device id" "$KA" "$U/v1/bob/chain/" --as-device "$IDB"
N=00112233445566778899aabbccddeeff
want 200 "first use of a nonce" "$KA" "$U/v1/alice/chain/" --nonce $N
want 401 "replayed nonce" "$KA" "$U/v1/alice/chain/" --nonce $N
want 401 "replayed nonce on another path" "$KA" "$U/v1/alice/keys/" --nonce $N
want 401 "time 400 s ahead" "$KA" "$U/v1/alice/chain/" --time-offset 400
want 401 "time 400 s behind" "$KA" "$U/v1/alice/chain/" --time-offset -400
want 200 "time 200 s ahead" "$KA" "$U/v1/alice/chain/" --time-offset 200
want 200 "time 200 s behind" "$KA" "$U/v1/alice/chain/" --time-offset -200

say "malformed requests: 400"
[ "$(curl_status -H "Authorization: Coffer-Ed25519 device=zz" -H "X-Coffer-Content-SHA256: $EMPTY" \
	"$U/v1/alice/chain/")" = 400 ] || fail "malformed Authorization"
[ "$(curl_status -H "Authorization: Basic YWxhZGRpbjpvcGVu" -H "X-Coffer-Content-SHA256: $EMPTY" \
	"$U/v1/alice/chain/")" = 400 ] || fail "another authorization scheme"
want 400 "malformed content hash" "$KA" "$U/v1/alice/chain/" --content-sha256 xyz
want 400 "non-empty content hash without a body" "$KA" "$U/v1/alice/chain/" \
	--content-sha256 "$(printf x | sha256sum | cut -d' ' -f1)"
want 400 "unknown query parameter" "$KA" "$U/v1/alice/chain/?foo=1"
want 400 "limit 0" "$KA" "$U/v1/alice/chain/?limit=0"
want 400 "limit over 10000" "$KA" "$U/v1/alice/chain/?limit=10001"
want 400 "upper-case object name" "$KA" "$U/v1/alice/packs/$(printf '%064d' 0 | tr 0 A)"
want 400 "short pack name" "$KA" "$U/v1/alice/packs/abcd"
want 400 "bad account name" "$KA" "$U/v1/Alice/chain/"
want 404 "unknown kind" "$KA" "$U/v1/alice/secrets/"
want 405 "PATCH" "$KA" "$U/v1/alice/chain/0000000000000000" --method PATCH
want 405 "PUT on a listing" "$KA" "$U/v1/alice/keys/" --method PUT --body "$GA"
want 405 "DELETE on a listing" "$KA" "$U/v1/alice/keys/" --method DELETE
want 405 "GET with ?undelete" "$KA" "$U/v1/alice/keys/00-00000000?undelete"

say "size limits before authentication: 413"
[ "$(curl_status -H "X-Junk: $(head -c 9000 /dev/zero | tr '\0' a)" "$U/healthz")" = 413 ] ||
	fail "9000 bytes of headers"
[ "$(curl_status "$U/v1/alice/keys/$(head -c 600 /dev/zero | tr '\0' a)")" = 413 ] ||
	fail "600-byte path"
truncate -s 257M "$TMP/huge"
want 413 "257 MiB body" "$KA" "$U/v1/alice/index/$(printf '%064d' 0)" --method PUT --body "$TMP/huge"
rm -f "$TMP/huge"
[ "$(curl_status -X PUT -H "Content-Length: 268435457" "$U/v1/alice/requests/$(printf '%064d' 0)")" = 413 ] ||
	fail "oversized join request"

say "unknown and foreign accounts: 404, whether the object exists or not"
want 404 "unknown account" "$KA" "$U/v1/nobody/chain/"
want 404 "bob's existing chain entry, asked by alice" "$KA" "$U/v1/bob/chain/0000000000000000"
want 404 "bob's missing chain entry, asked by alice" "$KA" "$U/v1/bob/chain/0000000000000009"
want 404 "bob's listing, asked by alice" "$KA" "$U/v1/bob/chain/"
want 404 "alice writing into bob's account" "$KA" "$U/v1/bob/keys/00-00000000" --method PUT \
	--body "$GA"

# ---------------------------------------------------------------------------------------
say "key slots: stored once, write-once for everybody (409)"
for f in "$TMP"/repo_alice/keys/*; do
	want 201 "PUT key slot" "$KA" "$U/v1/alice/keys/$(basename "$f")" --method PUT --body "$f"
done
for f in "$TMP"/repo_bob/keys/*; do
	want 201 "PUT bob's key slot" "$KB" "$U/v1/bob/keys/$(basename "$f")" --method PUT --body "$f"
done
f=$(basename "$(find "$TMP/repo_alice/keys" -type f | sort | head -1)")
want 409 "overwrite of a key slot" "$KA" "$U/v1/alice/keys/$f" --method PUT \
	--body "$TMP/repo_alice/keys/$f"
mkobj 3 100 "$TMP/k1" >/dev/null
want 400 "a key slot with the prefix of a pack" "$KA" "$U/v1/alice/keys/00-00000001" --method PUT \
	--body "$TMP/k1"

say "content-addressed uploads: hash header and name must match the body"
P1=$(mkobj 3 5000 "$TMP/p1")
P2=$(mkobj 3 5000 "$TMP/p2")
want 400 "content hash of other bytes" "$KA" "$U/v1/alice/packs/$P1" --method PUT --body "$TMP/p1" \
	--content-sha256 "$P2"
want 400 "pack named for other bytes" "$KA" "$U/v1/alice/packs/$P2" --method PUT --body "$TMP/p1"
I1=$(mkobj 3 300 "$TMP/i1")
want 400 "index object with a pack prefix" "$KA" "$U/v1/alice/index/$I1" --method PUT --body "$TMP/i1"
want 404 "the refused pack is not there" "$KA" "$U/v1/alice/packs/$P1" --method HEAD
want 201 "PUT pack" "$KA" "$U/v1/alice/packs/$P1" --method PUT --body "$TMP/p1"
want 409 "PUT the same pack again" "$KA" "$U/v1/alice/packs/$P1" --method PUT --body "$TMP/p1"
! on_disk || [ -f "$D/blobs/alice/packs/${P1:0:2}/$P1" ] || fail "pack not stored under its fan-out directory"

say "GET, HEAD, ranges, listing"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P1" --out "$TMP/got" || fail "GET pack"
cmp -s "$TMP/got" "$TMP/p1" || fail "GET returned other bytes"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P1" --header "Range: bytes=100-199" --out "$TMP/got" ||
	fail "ranged GET"
cmp -s "$TMP/got" <(tail -c +101 "$TMP/p1" | head -c 100) || fail "ranged GET returned other bytes"
want 206 "ranged GET status" "$KA" "$U/v1/alice/packs/$P1" --header "Range: bytes=4990-"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P1" --header "Range: bytes=4990-9999" \
	--headers-out "$TMP/hdr" >/dev/null || fail "range clamped to the end"
grep -qi '^Content-Range: bytes 4990-4999/5000' "$TMP/hdr" || fail "Content-Range: $(cat "$TMP/hdr")"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P1" --header "Range: bytes=-10" --out "$TMP/got" ||
	fail "suffix range"
cmp -s "$TMP/got" <(tail -c 10 "$TMP/p1") || fail "suffix range returned other bytes"
want 416 "range past the end" "$KA" "$U/v1/alice/packs/$P1" --header "Range: bytes=5000-5001"
want 400 "malformed range" "$KA" "$U/v1/alice/packs/$P1" --header "Range: bytes=9-3"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P1" --method HEAD --headers-out "$TMP/hdr" \
	>"$TMP/out" || fail "HEAD"
grep -qi '^Content-Length: 5000' "$TMP/hdr" || fail "HEAD without the size"
[ ! -s "$TMP/out" ] || fail "HEAD sent a body"
want 404 "GET of a missing pack" "$KA" "$U/v1/alice/packs/$P2"
P3=$(mkobj 3 100 "$TMP/p3")
want 201 "PUT a second pack" "$KA" "$U/v1/alice/packs/$P3" --method PUT --body "$TMP/p3"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/" >"$TMP/out" || fail "list packs"
printf '%s\n' "$P1 5000" "$P3 100" | sort >"$TMP/want"
cmp -s "$TMP/out" "$TMP/want" || fail "pack listing: $(cat "$TMP/out")"
first=$(head -1 "$TMP/want" | cut -d' ' -f1)
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/?limit=1" --headers-out "$TMP/hdr" >"$TMP/out" ||
	fail "list limit=1"
[ "$(cat "$TMP/out")" = "$(head -1 "$TMP/want")" ] || fail "limit=1 listing: $(cat "$TMP/out")"
grep -qi '^X-Coffer-More: 1' "$TMP/hdr" || fail "no X-Coffer-More on a cut listing"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/?after=$first&limit=5" --headers-out "$TMP/hdr" \
	>"$TMP/out" || fail "list after"
[ "$(cat "$TMP/out")" = "$(tail -1 "$TMP/want")" ] || fail "after= listing: $(cat "$TMP/out")"
grep -qi '^X-Coffer-More' "$TMP/hdr" && fail "X-Coffer-More on a complete listing"
"$CF_HTTP" --key "$KB" --url "$U/v1/bob/packs/" >"$TMP/out" || fail "list bob's packs"
[ ! -s "$TMP/out" ] || fail "bob sees packs: $(cat "$TMP/out")"

# ---------------------------------------------------------------------------------------
say "quota: an upload that would pass it is refused before its body (413)"
Q1=$(mkobj 3 1300000 "$TMP/q1")
Q2=$(mkobj 3 800000 "$TMP/q2")
want 201 "PUT within the quota" "$KA" "$U/v1/alice/packs/$Q1" --method PUT --body "$TMP/q1"
want 413 "PUT over the quota" "$KA" "$U/v1/alice/packs/$Q2" --method PUT --body "$TMP/q2"
grep -q "PUT /v1/alice/packs/$Q2 413 in=0 " "$LOG" || fail "the refused upload was read"
want 404 "the refused upload is not there" "$KA" "$U/v1/alice/packs/$Q2" --method HEAD
curl -s "$U/metrics" | grep -q '^cofferd_errors_total{kind="quota"} [1-9]' ||
	fail "quota refusal not counted"

# ---------------------------------------------------------------------------------------
say "join request: stored without a signature, checked against its name"
join() { # join HOME REPO ROLE NAME: prints the pairing code
	COFFER_HOME=$1 "$COFFER" -r "$2" devices join --role "$3" --device-name "$4" 2>&1 |
		sed -n 's/^pairing code: //p'
}
CODE=$(join "$TMP/home_carol" "$TMP/repo_alice" backup-only carol)
[ -n "$CODE" ] || fail "coffer devices join printed no pairing code"
IDC=$(ls "$TMP/repo_alice/requests/")
KC=$TMP/home_carol/device.key
REQ=$TMP/repo_alice/requests/$IDC
cp "$REQ" "$TMP/req_carol"
[ "$(curl_status -X PUT --data-binary @"$REQ" "$U/v1/alice/requests/$IDB")" = 400 ] ||
	fail "join request under another device's id"
[ "$(curl_status -X PUT --data-binary @"$TMP/p3" "$U/v1/alice/requests/$IDC")" = 400 ] ||
	fail "join request that is not one"
[ "$(curl_status -X PUT --data-binary @"$REQ" "$U/v1/nobody/requests/$IDC")" = 404 ] ||
	fail "join request to an unknown account"
[ "$(curl_status -X PUT --data-binary @"$REQ" "$U/v1/alice/requests/$IDC")" = 201 ] ||
	fail "join request"
[ "$(curl_status -X PUT --data-binary @"$REQ" "$U/v1/alice/requests/$IDC")" = 409 ] ||
	fail "join request twice"
want 200 "alice lists requests" "$KA" "$U/v1/alice/requests/"

say "a pending device reads the chain and nothing else"
want 200 "pending device lists the chain" "$KC" "$U/v1/alice/chain/"
want 200 "pending device reads the genesis" "$KC" "$U/v1/alice/chain/0000000000000000"
want 403 "pending device lists key slots" "$KC" "$U/v1/alice/keys/"
want 403 "pending device reads a pack" "$KC" "$U/v1/alice/packs/$P1"
C1=$(mkobj 3 700 "$TMP/c1")
want 403 "pending device writes a pack" "$KC" "$U/v1/alice/packs/$C1" --method PUT --body "$TMP/c1"
want 404 "pending device in another account" "$KC" "$U/v1/bob/chain/"

say "cap of 16 pending join requests per account (bob)"
for i in $(seq 17); do
	join "$TMP/home_j$i" "$TMP/repo_bob" full "j$i" >/dev/null
done
n=0
for r in "$TMP"/repo_bob/requests/*; do
	n=$((n + 1))
	s=$(curl_status -X PUT --data-binary @"$r" "$U/v1/bob/requests/$(basename "$r")")
	if [ $n -le 16 ]; then
		[ "$s" = 201 ] || fail "join request $n: $s"
	else
		[ "$s" = 413 ] || fail "join request $n over the cap: $s, want 413"
	fi
done

# ---------------------------------------------------------------------------------------
say "chain appends: verified by the server with the chain it holds"
COFFER_HOME=$TMP/home_alice "$COFFER" -r "$TMP/repo_alice" devices approve "$CODE" --yes \
	>/dev/null 2>&1 || fail "coffer devices approve"
E1=$TMP/repo_alice/chain/0000000000000001
[ -f "$E1" ] || fail "approve wrote no chain entry"
"$PY" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-5] ^= 1
open(sys.argv[2], "wb").write(b)' "$E1" "$TMP/e1bad"
want 400 "chain entry with a bad signature" "$KA" "$U/v1/alice/chain/0000000000000001" --method PUT \
	--body "$TMP/e1bad"
want 400 "chain entry out of sequence" "$KA" "$U/v1/alice/chain/0000000000000005" --method PUT \
	--body "$E1"
want 400 "genesis entry as entry 1" "$KA" "$U/v1/alice/chain/0000000000000001" --method PUT \
	--body "$GA"
want 201 "chain entry 1 (add carol, backup-only)" "$KA" "$U/v1/alice/chain/0000000000000001" \
	--method PUT --body "$E1"
want 409 "chain entry 1 again" "$KA" "$U/v1/alice/chain/0000000000000001" --method PUT --body "$E1"
adm list-accounts | grep -q '^alice .* devices=2 ' || fail "devices after approve: $(adm list-accounts)"
f=$(basename "$TMP/repo_alice/keys/$IDC"-*)
want 201 "carol's key slot" "$KA" "$U/v1/alice/keys/$f" --method PUT --body "$TMP/repo_alice/keys/$f"
want 204 "alice removes the approved request" "$KA" "$U/v1/alice/requests/$IDC" --method DELETE
want 404 "the request is gone" "$KA" "$U/v1/alice/requests/$IDC"

say "backup-only device: reads and writes, never deletes, undeletes or overwrites"
want 200 "carol lists key slots" "$KC" "$U/v1/alice/keys/"
want 201 "carol writes a pack" "$KC" "$U/v1/alice/packs/$C1" --method PUT --body "$TMP/c1"
want 409 "carol overwrites her pack" "$KC" "$U/v1/alice/packs/$C1" --method PUT --body "$TMP/c1"
want 403 "carol deletes a pack" "$KC" "$U/v1/alice/packs/$P1" --method DELETE
want 403 "carol undeletes a pack" "$KC" "$U/v1/alice/packs/$P1?undelete" --method POST
want 403 "alice deletes a chain entry" "$KA" "$U/v1/alice/chain/0000000000000001" --method DELETE

# ---------------------------------------------------------------------------------------
say "soft delete, undelete, and gc once the retention window has passed"
want 204 "alice deletes a pack" "$KA" "$U/v1/alice/packs/$P3" --method DELETE
want 404 "deleted pack: GET" "$KA" "$U/v1/alice/packs/$P3"
want 404 "deleted pack: HEAD" "$KA" "$U/v1/alice/packs/$P3" --method HEAD
want 404 "deleted pack: DELETE again" "$KA" "$U/v1/alice/packs/$P3" --method DELETE
want 409 "deleted pack: PUT again" "$KA" "$U/v1/alice/packs/$P3" --method PUT --body "$TMP/p3"
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/" | grep -q "$P3" && fail "deleted pack listed"
adm list-deletions | grep -q "^alice packs $P3 size=100 " || fail "list-deletions: $(adm list-deletions)"
want 204 "undelete" "$KA" "$U/v1/alice/packs/$P3?undelete" --method POST
"$CF_HTTP" --key "$KA" --url "$U/v1/alice/packs/$P3" --out "$TMP/got" || fail "GET undeleted pack"
cmp -s "$TMP/got" "$TMP/p3" || fail "undeleted pack differs"
[ -z "$(adm list-deletions)" ] || fail "list-deletions after undelete: $(adm list-deletions)"
want 204 "delete it again" "$KA" "$U/v1/alice/packs/$P3" --method DELETE
used1=$(adm list-accounts | sed -n 's/^alice .*used=\([0-9]*\).*/\1/p')
adm gc | grep -q '^removed 0 objects' || fail "gc removed an object inside the window"
want 204 "still undeletable inside the window" "$KA" "$U/v1/alice/packs/$P3?undelete" --method POST
want 204 "delete it once more" "$KA" "$U/v1/alice/packs/$P3" --method DELETE
adm gc --retention 0s | grep -q '^removed 1 objects (100 bytes)' || fail "gc past the window"
[ -z "$(adm list-deletions)" ] || fail "list-deletions after gc"
! on_disk || [ ! -e "$D/blobs/alice/packs/${P3:0:2}/$P3" ] || fail "gc left the file"
want 404 "undelete after gc" "$KA" "$U/v1/alice/packs/$P3?undelete" --method POST
used2=$(adm list-accounts | sed -n 's/^alice .*used=\([0-9]*\).*/\1/p')
[ "$used2" = $((used1 - 100)) ] || fail "quota after gc: used $used2, want $((used1 - 100))"

# ---------------------------------------------------------------------------------------
say "revocation: the server takes removals from the chain (401 afterwards)"
COFFER_HOME=$TMP/home_alice "$COFFER" -r "$TMP/repo_alice" devices revoke "$IDC" --yes \
	>/dev/null 2>&1 || fail "coffer devices revoke"
for e in 0000000000000002 0000000000000003; do
	[ -f "$TMP/repo_alice/chain/$e" ] || fail "revoke wrote no chain entry $e"
	want 201 "chain entry $e" "$KA" "$U/v1/alice/chain/$e" --method PUT \
		--body "$TMP/repo_alice/chain/$e"
done
want 401 "revoked device" "$KC" "$U/v1/alice/chain/"
want 200 "alice still works" "$KA" "$U/v1/alice/chain/"
adm list-accounts | grep -q '^alice .* devices=1 ' || fail "devices after revoke: $(adm list-accounts)"

# ---------------------------------------------------------------------------------------
say "concurrency: one of 8 racing uploads of a name wins; racing uploads never pass the quota"
TD=$(adm create-account dave --quota 1000000) || fail "create-account dave"
newrepo dave
KD=$TMP/home_dave/device.key
[ "$(curl_status -X POST -H "X-Coffer-Token: $TD" --data-binary @"$TMP/repo_dave/chain/0000000000000000" \
	"$U/v1/dave/enroll")" = 201 ] || fail "enroll dave"
R1=$(mkobj 3 100000 "$TMP/r1")
pids=()
for i in $(seq 8); do
	st "$KD" "$U/v1/dave/packs/$R1" --method PUT --body "$TMP/r1" >"$TMP/race$i" &
	pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$TMP"/race* | sort | uniq -c | tr -s ' ' | tr '\n' ' ')" = " 1 201  7 409 " ] ||
	fail "racing uploads of one name: $(cat "$TMP"/race* | tr '\n' ' ')"
rm -f "$TMP"/race*
# 400-byte genesis + 100000: room for 4 more packs of 200000 bytes, not 5
for i in $(seq 8); do
	mkobj 3 200000 "$TMP/rq$i" >"$TMP/rq$i.name"
done
pids=()
for i in $(seq 8); do
	st "$KD" "$U/v1/dave/packs/$(cat "$TMP/rq$i.name")" --method PUT --body "$TMP/rq$i" \
		>"$TMP/race$i" &
	pids+=($!)
done
wait "${pids[@]}"
ok=$(cat "$TMP"/race* | grep -c 201 || true)
[ "$ok" = 4 ] || fail "racing uploads against a quota: $ok accepted, want 4 ($(cat "$TMP"/race* | tr '\n' ' '))"
used=$(adm list-accounts | sed -n 's/^dave .*used=\([0-9]*\).*/\1/p')
[ "$used" -le 1000000 ] || fail "dave uses $used bytes of 1000000"
"$CF_HTTP" --key "$KD" --url "$U/v1/dave/packs/" | wc -l | grep -qx 5 || fail "dave's listing"

# ---------------------------------------------------------------------------------------
say "client roundtrip: coffer init --token, backup, restore through cofferd"
TE=$(adm create-account erin --quota 50M) || fail "create-account erin"
mkdir -p "$TMP/src/sub"
head -c 300000 /dev/urandom >"$TMP/src/sub/blob"
echo "hello through cofferd" >"$TMP/src/note.txt"
export COFFER_HOME=$TMP/home_erin
run -r "$U/erin" init --token "$TE" --recovery-key-file "$TMP/erin.rk"
expect_rc 0 "coffer init --token"
run -r "$U/erin" backup "$TMP/src"
expect_rc 0 "coffer backup"
run -r "$U/erin" restore latest --target "$TMP/restored"
expect_rc 0 "coffer restore"
diff -r "$TMP/src" "$TMP/restored$TMP/src" >/dev/null || fail "restored tree differs"
run -r "$U/erin" check --read-data
expect_rc 0 "coffer check --read-data"
export COFFER_HOME=$TMP/home
if on_disk; then
	[ -n "$(ls "$D/blobs/erin/packs")" ] || fail "no packs stored for erin"
	grep -rqa "hello through cofferd" "$D" && fail "plaintext in the server's data directory"
fi

# ---------------------------------------------------------------------------------------
say "log: one line per request with an id, never a token, signature or header value"
grep -q 'req=[0-9]* dev=[0-9a-f]\{16\} PUT /v1/alice/packs/' "$LOG" || fail "no request lines"
for secret in "$TA" "$TB" "$TD" "$TE" "sig=" "Coffer-Ed25519" "$N"; do
	grep -q -- "$secret" "$LOG" && fail "the log holds '$secret'"
done
if "$COFFERD_BIN" serve --data "$D" "${STORES[@]}" --listen 127.0.0.1:0 2>"$TMP/err"; then
	fail "a second server on the same data directory"
fi
grep -q 'another cofferd serves' "$TMP/err" || fail "second server: $(cat "$TMP/err")"

# ---------------------------------------------------------------------------------------
say "SIGTERM: an upload in flight finishes within the grace period, exit 0"
stop_server
start_server --grace 20
B1=$(mkobj 3 300000 "$TMP/b1")
"$CF_HTTP" --key "$KB" --url "$U/v1/bob/packs/$B1" --method PUT --body "$TMP/b1" \
	--limit-rate 150000 --print-status >"$TMP/b1.status" 2>&1 &
CPID=$!
sleep 0.7
kill -TERM "$SPID"
src=0
wait "$SPID" || src=$?
SPID=
wait "$CPID" || true
[ "$src" = 0 ] || fail "cofferd exit status $src after SIGTERM"
[ "$(cat "$TMP/b1.status")" = 201 ] || fail "the upload in flight: $(cat "$TMP/b1.status")"
grep -q 'SIGTERM: shutting down' "$LOG" || fail "no shutdown line"

say "SIGTERM: an upload cut off after the grace period is discarded whole"
start_server --grace 1
used1=$(adm list-accounts | sed -n 's/^bob .*used=\([0-9]*\).*/\1/p')
B2=$(mkobj 3 3000000 "$TMP/b2")
"$CF_HTTP" --key "$KB" --url "$U/v1/bob/packs/$B2" --method PUT --body "$TMP/b2" \
	--limit-rate 200000 --print-status >"$TMP/b2.status" 2>&1 &
CPID=$!
sleep 1
kill -TERM "$SPID"
src=0
wait "$SPID" || src=$?
SPID=
wait "$CPID" || true
[ "$src" = 0 ] || fail "cofferd exit status $src after SIGTERM with a cut upload"
grep -q '^201' "$TMP/b2.status" && fail "the cut upload was acknowledged"
if on_disk; then
	[ -z "$(ls -A "$D/blobs/.tmp")" ] || fail "temporary files left: $(ls "$D/blobs/.tmp")"
	[ ! -e "$D/blobs/bob/packs/${B2:0:2}/$B2" ] || fail "the cut upload was stored"
fi
start_server
want 200 "the finished upload is there after a restart" "$KB" "$U/v1/bob/packs/$B1" --method HEAD
want 404 "the cut upload is not" "$KB" "$U/v1/bob/packs/$B2" --method HEAD
used2=$(adm list-accounts | sed -n 's/^bob .*used=\([0-9]*\).*/\1/p')
[ "$used1" = "$used2" ] || fail "the cut upload kept its quota: $used1 -> $used2"
want 201 "the cut upload can be sent again" "$KB" "$U/v1/bob/packs/$B2" --method PUT \
	--body "$TMP/b2"
stop_server
if grep -q 'Sanitizer\|runtime error' "$LOG"; then
	grep -m5 'Sanitizer\|runtime error' "$LOG" >&2
	fail "sanitizer report from cofferd"
fi

say "ok"
