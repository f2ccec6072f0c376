#!/bin/bash
# test_s3_blobs.sh - cofferd's S3 blob store (server/blobs_s3.c) and S3 client (server/s3*.c)
# through tests/tools/cf_s3test.c.
#
# First, without any S3 server: the s3:// URI and the credentials are checked (bad bucket,
# endpoint, region and parameters; a credentials file open to others is refused; two-line and
# KEY=VALUE files work; no message shows the secret), and retries are checked against a small
# fake server: 503 SlowDown and 429 are retried until they pass, a 500 that persists gives up
# after 6 attempts, a 400 is never retried, a refused connection is retried.
#
# Then against a private Ceph RADOS Gateway (tests/system/lib/ceph.sh), which checks SigV4
# signatures and payload hashes for real: bucket creation twice, a missing bucket, a wrong
# secret (403 SignatureDoesNotMatch, named in the error), put / get / ranges served from
# memory and from a spooled file / head with the SHA-256 metadata, write-once with
# If-None-Match (412) and the commit's handling of an object already there (same bytes:
# success; other bytes: replaced), a 40 MiB multipart upload read back whole and across a
# part boundary, listing 1100 keys over two pages, account removal, temporary files.
#
# Skipped (exit 0) when CF_S3TEST is not set; the Ceph part is skipped only when radosgw is
# not installed.
set -euo pipefail
if [ -z "${CF_S3TEST:-}" ]; then
	echo "test_s3_blobs: skipped (CF_S3TEST not set)"
	exit 0
fi
# shellcheck source=tests/system/_common.sh
. "$(dirname "$0")/_common.sh"
# shellcheck source=tests/system/lib/ceph.sh
. "$LIB/ceph.sh"

CEPH_DIR=$TMP/ceph
S3TMP=$TMP/s3tmp
FAKE_PID=
URI=

cleanup() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
	fi
	[ -d "$CEPH_DIR" ] && ceph_stop "$CEPH_DIR"
	rm -rf "$TMP"
}
trap cleanup EXIT

# s3t ARGS...: cf_s3test on $URI; stdout in $TMP/out, stderr in $TMP/err, status in $rc.
s3t() {
	rc=0
	"$CF_S3TEST" --uri "$URI" --tmp "$S3TMP" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	if [ "$rc" = 99 ] || [ "$rc" = 98 ] || grep -q 'Sanitizer' "$TMP/err"; then
		fail "sanitizer report from: cf_s3test $*"
	fi
	return 0
}

# ok WHAT ARGS...: cf_s3test must succeed.
ok() {
	local what=$1
	shift
	s3t "$@"
	[ "$rc" = 0 ] || fail "$what: exit status $rc"
}

# refused WHAT PATTERN ARGS...: cf_s3test must fail with PATTERN in its one-line error.
refused() {
	local what=$1 pattern=$2
	shift 2
	s3t "$@"
	[ "$rc" = 1 ] || fail "$what: exit status $rc, want 1"
	grep -q -- "$pattern" "$TMP/err" || fail "$what: error does not say '$pattern'"
	[ "$(grep -vc 'part in' "$TMP/err")" = 1 ] || fail "$what: error is not one line"
}

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

sha() {
	sha256sum "$1" | cut -c1-64
}

mkdir -p "$S3TMP"
export AWS_ACCESS_KEY_ID=test-access-key
export AWS_SECRET_ACCESS_KEY=Very-Secret+Key/42
unset COFFERD_S3_CREDENTIALS

say "the URI is checked before anything is sent"
URI='s3://Bad_Bucket?endpoint=http://127.0.0.1:1'
refused "bad bucket" "invalid S3 bucket name 'Bad_Bucket'" raw-head k
URI='s3://192.168.1.1?endpoint=http://127.0.0.1:1'
refused "IP-shaped bucket" "invalid S3 bucket name" raw-head k
URI='s3://bkt?endpoint=ftp://127.0.0.1:1'
refused "ftp endpoint" "invalid S3 endpoint 'ftp://127.0.0.1:1'" raw-head k
URI='s3://bkt?endpoint=http://127.0.0.1:1/path'
refused "endpoint with a path" "invalid S3 endpoint" raw-head k
URI='s3://bkt?endpoint=http://127.0.0.1:99999'
refused "endpoint port" "invalid S3 endpoint" raw-head k
URI='s3://bkt?region=us-east-1'
refused "no endpoint" "no endpoint=" raw-head k
URI='s3://bkt?endpoint=http://127.0.0.1:1&region=US%20EAST'
refused "bad region" "invalid S3 region 'US EAST'" raw-head k
URI='s3://bkt?endpoint=http://127.0.0.1:1&secret=x'
refused "unknown parameter" "unknown S3 URI parameter 'secret'" raw-head k
URI='s3://bkt?endpoint=http://127.0.0.1:1&endpoint=http://127.0.0.1:2'
refused "parameter twice" "given twice" raw-head k
URI='https://bkt'
refused "not s3://" "s3://BUCKET" raw-head k

say "starting a fake S3 server"
FAKE_PORT=$(free_port)
cat >"$TMP/fake_s3.py" <<'EOF'
import collections, hashlib, http.server, sys
hits = collections.Counter()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def answer(self, code, body=b"", extra=()):
        self.send_response(code)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 5))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_HEAD(self):
        key = self.path.split("?")[0]
        hits[key] += 1
        with open(sys.argv[2], "a") as f:
            f.write(key + " " + self.headers.get("Authorization", "-")[:60] + "\n")
        n = hits[key]
        if key == "/bkt/slowdown" and n <= 2:
            return self.answer(503)
        if key == "/bkt/throttled" and n <= 1:
            return self.answer(429)
        if key == "/bkt/broken":
            return self.answer(500)
        if key == "/bkt/bad":
            return self.answer(400)
        self.answer(200, extra=[("x-amz-meta-sha256", "ab" * 32)])
    def do_PUT(self):
        key = self.path.split("?")[0]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        hits[key] += 1
        with open(sys.argv[2], "a") as f:
            f.write("PUT %s %s %s %s\n" % (key, hashlib.sha256(body).hexdigest(),
                    self.headers.get("x-amz-content-sha256"), self.headers.get("If-None-Match")))
        self.answer(503 if hits[key] == 1 else 200)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
"$PY" "$TMP/fake_s3.py" "$FAKE_PORT" "$TMP/fake.log" &
FAKE_PID=$!
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$FAKE_PORT/" 2>/dev/null && break
	sleep 0.1
done

say "credentials: environment, or a private file; never echoed"
URI="s3://bkt?endpoint=http%3A%2F%2F127.0.0.1%3A$FAKE_PORT"
(
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	refused "no credentials" "no S3 credentials" raw-head k
	printf 'file-access-key\nFile-Secret/0123456789\n' >"$TMP/creds"
	chmod 644 "$TMP/creds"
	export COFFERD_S3_CREDENTIALS=$TMP/creds
	refused "credentials file open to others" "must not be accessible to group or others" raw-head k
	chmod 600 "$TMP/creds"
	ok "two-line credentials file" raw-head k
	printf '# coffer\n[default]\naws_access_key_id = file-access-key\nAWS_SECRET_ACCESS_KEY=File-Secret/0123456789\n' >"$TMP/creds"
	ok "KEY=VALUE credentials file" raw-head k
	printf 'a\nb\nc\n' >"$TMP/creds"
	refused "three lines" "want two lines" raw-head k
	printf 'AWS_ACCESS_KEY_ID=x\n' >"$TMP/creds"
	refused "no secret in the file" "lacks the access key id or the secret" raw-head k
	! grep -q 'File-Secret' "$TMP/err" || fail "an error shows the secret"
)
grep -q '^/bkt/k AWS4-HMAC-SHA256 Credential=file-access-key/' "$TMP/fake.log" ||
	fail "the credentials file's access key was not used"

say "a refused connection is retried, 6 attempts in all"
URI='s3://bkt?endpoint=http://127.0.0.1:1'
refused "connection refused" "(6 attempts)" raw-head k

say "retries: 503 SlowDown and 429 until they pass, 500 six times, 400 never"
URI="s3://bkt?endpoint=http://127.0.0.1:$FAKE_PORT"
ok "503 twice, then 200" raw-head slowdown
[ "$(cat "$TMP/out")" = "5 $(printf 'ab%.0s' $(seq 32))" ] || fail "HEAD: wrong size or metadata: $(cat "$TMP/out")"
ok "429, then 200" raw-head throttled
refused "500 every time" "HTTP 500 (6 attempts)" raw-head broken
refused "400" "HTTP 400" raw-head bad
head -c 100000 /dev/urandom >"$TMP/body"
ok "PUT: 503, then the body again" raw-put put-retry "$TMP/body" --if-none-match
want="PUT /bkt/put-retry $(sha "$TMP/body") $(sha "$TMP/body") *"
[ "$(grep -cxF "$want" "$TMP/fake.log")" = 2 ] ||
	fail "PUT retry: the body or its hash changed: $(grep '^PUT' "$TMP/fake.log")"
for want in "slowdown 3" "throttled 2" "broken 6" "bad 1"; do
	got=$(grep -c "^/bkt/${want% *} AWS4-HMAC-SHA256" "$TMP/fake.log" || true)
	[ "$got" = "${want#* }" ] || fail "${want% *}: $got signed requests, want ${want#* }"
done
kill "$FAKE_PID"
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=

if ! ceph_available; then
	echo "test_s3_blobs: Ceph part skipped (ceph-mon, ceph-osd or radosgw not installed)"
	exit 0
fi
say "starting a private Ceph cluster"
ceph_start "$CEPH_DIR" || fail "Ceph did not start"
export AWS_ACCESS_KEY_ID=$CEPH_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CEPH_S3_SECRET_KEY
URI="s3://coffer-test?endpoint=$CEPH_S3_ENDPOINT&region=$CEPH_S3_REGION"

say "bucket: created twice, a missing one is named, a wrong secret is refused"
ok "init" init
ok "init again" init
ok "open" open
URI2=$URI
URI="s3://coffer-missing?endpoint=$CEPH_S3_ENDPOINT"
refused "missing bucket" "no S3 bucket 'coffer-missing'" open
URI=$URI2
(
	export AWS_SECRET_ACCESS_KEY=wrong-$CEPH_S3_SECRET_KEY
	refused "wrong secret, open" "cannot GET 's3://coffer-test/': HTTP 403 SignatureDoesNotMatch" open
	refused "wrong secret, GET" "cannot GET 's3://coffer-test/a/keys/1': HTTP 403 SignatureDoesNotMatch" raw-get a/keys/1 0 1
	! grep -q -- "$CEPH_S3_SECRET_KEY" "$TMP/err" || fail "the error shows the secret"
	export AWS_ACCESS_KEY_ID=nobody
	refused "unknown access key" "HTTP 403 InvalidAccessKeyId" open
)

say "put, size, get, ranges from memory and from a spooled file, read"
head -c 3000000 /dev/urandom >"$TMP/o3m"
ok "put 3 MB" put acct1 keys 0a "$TMP/o3m"
ok "size" size acct1 keys 0a
[ "$(cat "$TMP/out")" = 3000000 ] || fail "size: $(cat "$TMP/out")"
ok "get whole" get acct1 keys 0a
cmp -s "$TMP/out" "$TMP/o3m" || fail "get: bytes differ"
grep -q 'part in a file' "$TMP/err" || fail "a 3 MB read was not spooled"
ok "get small range" get acct1 keys 0a 100 1000
cmp -s "$TMP/out" <(tail -c +101 "$TMP/o3m" | head -c 1000) || fail "small range differs"
grep -q 'part in memory' "$TMP/err" || fail "a small range was not read into memory"
ok "get large range" get acct1 keys 0a 1000 2000000
cmp -s "$TMP/out" <(tail -c +1001 "$TMP/o3m" | head -c 2000000) || fail "large range differs"
ok "get last byte" get acct1 keys 0a 2999999 1
cmp -s "$TMP/out" <(tail -c 1 "$TMP/o3m") || fail "last byte differs"
ok "read" read acct1 keys 0a 3000000
cmp -s "$TMP/out" "$TMP/o3m" || fail "read: bytes differ"
refused "read over its limit" "too large" read acct1 keys 0a 2999999
ok "head" raw-head acct1/keys/0a
[ "$(cat "$TMP/out")" = "3000000 $(sha "$TMP/o3m")" ] || fail "head: $(cat "$TMP/out")"
refused "range past the end" "HTTP 416 InvalidRange" raw-get acct1/keys/0a 3000000 1
refused "size of a missing object" "no object 's3://coffer-test/acct1/keys/0b'" size acct1 keys 0b
: >"$TMP/empty"
ok "put empty" put acct1 keys 0e "$TMP/empty"
ok "get empty" get acct1 keys 0e
[ ! -s "$TMP/out" ] || fail "empty object is not empty"

say "write-once: If-None-Match, and commits over an object already there"
echo first >"$TMP/first"
echo second >"$TMP/second"
ok "conditional put" raw-put raw/once "$TMP/first" --if-none-match
refused "conditional put again" "'s3://coffer-test/raw/once' exists" raw-put raw/once "$TMP/second" --if-none-match
ok "get" raw-get raw/once 0 6
cmp -s "$TMP/out" "$TMP/first" || fail "a conditional put replaced the object"
ok "commit the same bytes again" put acct1 keys 0a "$TMP/o3m"
ok "commit other bytes (a crash leftover)" put acct1 keys 0a "$TMP/first"
ok "get" get acct1 keys 0a
cmp -s "$TMP/out" "$TMP/first" || fail "the leftover was not replaced"

say "multipart: 40 MiB in 16 MiB parts"
head -c 41943040 /dev/urandom >"$TMP/o40m"
P=$(sha "$TMP/o40m")
ok "put 40 MiB" put acct1 packs "$P" "$TMP/o40m"
etag=$(curl -sS -I --aws-sigv4 "aws:amz:$CEPH_S3_REGION:s3" \
	--user "$CEPH_S3_ACCESS_KEY:$CEPH_S3_SECRET_KEY" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	"$CEPH_S3_ENDPOINT/coffer-test/acct1/packs/$P" | tr -d '\r' | grep -i '^etag:' || true)
case $etag in *-3\"*) ;; *) fail "40 MiB was not stored in 3 parts ($etag)" ;; esac
ok "head" raw-head "acct1/packs/$P"
[ "$(cat "$TMP/out")" = "41943040 $P" ] || fail "multipart head: $(cat "$TMP/out")"
ok "get 40 MiB" get acct1 packs "$P"
cmp -s "$TMP/out" "$TMP/o40m" || fail "multipart object differs"
ok "range across parts" get acct1 packs "$P" 16777000 2000
cmp -s "$TMP/out" <(tail -c +16777001 "$TMP/o40m" | head -c 2000) || fail "range across parts differs"
ok "commit it again" put acct1 packs "$P" "$TMP/o40m"
head -c 34000000 /dev/urandom >"$TMP/o34m"
ok "commit other bytes over it" put acct1 packs "$P" "$TMP/o34m"
ok "head" raw-head "acct1/packs/$P"
[ "$(cat "$TMP/out")" = "34000000 $(sha "$TMP/o34m")" ] || fail "multipart replace: $(cat "$TMP/out")"
rm -f "$TMP/o40m" "$TMP/o34m"

say "temporary files: none left behind; clean-tmp removes only its own"
[ -z "$(ls -A "$S3TMP")" ] || fail "temporary files left: $(ls -A "$S3TMP")"
: >"$S3TMP/0123456789abcdef0123456789abcdef.tmp"
: >"$S3TMP/keep-me"
ok "clean-tmp" clean-tmp
[ "$(ls -A "$S3TMP")" = keep-me ] || fail "clean-tmp: $(ls -A "$S3TMP")"

say "listing 1100 keys over two pages, removing an account"
ok "put 1100 small objects" put-many acct2/keys/ 1100 4
ok "list" list acct2/
[ "$(wc -l <"$TMP/out")" = 1100 ] || fail "list: $(wc -l <"$TMP/out") keys, want 1100"
LC_ALL=C sort -c "$TMP/out" || fail "list is not in order"
[ "$(cut -d' ' -f1 "$TMP/out" | sort -u | wc -l)" = 1100 ] || fail "list repeats keys"
grep -q '^acct2/keys/01099 16$' "$TMP/out" || fail "list: last key or its size is wrong"
ok "remove account" rm-account acct2
ok "list" list acct2/
[ ! -s "$TMP/out" ] || fail "account not removed: $(wc -l <"$TMP/out") keys left"
ok "list" list acct1/
[ "$(wc -l <"$TMP/out")" = 3 ] || fail "another account lost objects: $(cat "$TMP/out")"
ok "remove an object" rm acct1 keys 0e
ok "remove it again" rm acct1 keys 0e
refused "removed" "no object" size acct1 keys 0e

say "stopping Ceph"
ceph_stop "$CEPH_DIR"
say "ok"
