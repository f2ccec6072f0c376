#!/bin/bash
# test_roundtrip.sh - backup and restore of a hostile tree (every file type, odd names, paths
# past PATH_MAX, sparse files, hard links, xattrs, special modes, old and future times) must
# give back an identical tree; an unchanged second backup reads nothing and adds almost no
# data; diff names exactly what changed; ls, snapshots, --tag, --host, --include, --exclude,
# restore over an existing target, check and version follow the command-line contract.
set -euo pipefail
. "$(dirname "$0")/_common.sh"

R=$TMP/repo
S=$TMP/src

# Regular-file inodes under a tree (what backup counts as files), walked with directory
# descriptors so paths past PATH_MAX work.
count_files() {
	"$PY" -c '
import os, stat, sys
seen = set()
for top, dirs, files, fd in os.fwalk(os.fsencode(sys.argv[1])):
    for f in files:
        st = os.lstat(f, dir_fd=fd)
        if stat.S_ISREG(st.st_mode):
            seen.add(st.st_ino)
print(len(seen))' "$1"
}

say "building the hostile tree"
"$PY" "$LIB/mkhostile.py" "$S" --seed 11
nfiles=$(count_files "$S")
mkrepo "$R"

say "first backup: exit 0, every file is new"
run -r "$R" --json backup --tag first "$S"
expect_rc 0 "first backup"
[ "$(json_get files_new)" = "$nfiles" ] || fail "files_new $(json_get files_new), want $nfiles"
[ "$(json_get files_unmodified)" = 0 ] || fail "files_unmodified of the first backup"
snap1=$(json_get snapshot_id)
[[ $snap1 =~ ^[0-9a-f]{64}$ ]] || fail "snapshot_id '$snap1' is not 64 hex digits"
added1=$(json_get data_added)

say "restore into an empty directory gives an identical tree"
run -r "$R" restore latest --target "$TMP/r1"
expect_rc 0 "restore latest"
treecmp "$S" "$TMP/r1$S" --ignore-sockets

say "restore by an 8-digit id prefix"
run -r "$R" restore "${snap1:0:8}" --target "$TMP/r1b" --include "$S/files"
expect_rc 0 "restore by prefix"
treecmp "$S/files" "$TMP/r1b$S/files"

say "second backup of the unchanged tree: nothing new, nothing read, little data"
run -r "$R" --json backup "$S"
expect_rc 0 "second backup"
[ "$(json_get files_new)" = 0 ] || fail "files_new $(json_get files_new), want 0"
[ "$(json_get files_changed)" = 0 ] || fail "files_changed $(json_get files_changed), want 0"
[ "$(json_get files_unmodified)" = "$nfiles" ] ||
	fail "files_unmodified $(json_get files_unmodified), want $nfiles"
added2=$(json_get data_added)
[ "$added2" -lt 262144 ] || fail "unchanged backup added $added2 bytes (first: $added1)"
snap2=$(json_get snapshot_id)

say "modify one file, add one, delete one: diff shows exactly M, + and -"
printf 'changed content\n' >>"$S/files/small.txt"
printf 'a new file\n' >"$S/files/added.txt"
rm "$S/many/f0007"
run -r "$R" --json backup "$S"
expect_rc 0 "third backup"
[ "$(json_get files_new)" = 1 ] || fail "files_new $(json_get files_new), want 1"
[ "$(json_get files_changed)" = 1 ] || fail "files_changed $(json_get files_changed), want 1"
[ "$(json_get files_unmodified)" = "$((nfiles - 2))" ] || fail "files_unmodified after a change"
snap3=$(json_get snapshot_id)
run -r "$R" diff "$snap2" "$snap3"
expect_rc 0 "diff"
"$PY" - "$TMP/out" "$S" <<'EOF' || fail "diff output is wrong"
import sys
out, src = sys.argv[1], sys.argv[2]
want = {("M", src + "/files/small.txt"), ("+", src + "/files/added.txt"),
        ("-", src + "/many/f0007")}
got = set()
for line in open(out, encoding="utf-8", errors="surrogateescape"):
    line = line.rstrip("\n")
    if not line:
        continue
    mod, _, path = line.partition(" ")
    path = path.lstrip(" ")
    if mod == "U":
        # Only directories above a changed entry may show metadata changes.
        if not any(w[1].startswith(path + "/") for w in want):
            sys.exit("unexpected U line: %r" % line)
        continue
    got.add((mod, path))
if got != want:
    sys.exit("diff changes %r, want %r" % (sorted(got), sorted(want)))
EOF
run -r "$R" --json diff "$snap2" "$snap3"
expect_rc 0 "diff --json"
"$PY" - "$TMP/out" "$S" <<'EOF' || fail "diff --json output is wrong"
import json, sys
src = sys.argv[2]
got = {(o["modifier"], o["path"]) for o in map(json.loads, open(sys.argv[1]))
       if o["modifier"] != "U"}
want = {("M", src + "/files/small.txt"), ("+", src + "/files/added.txt"),
        ("-", src + "/many/f0007")}
if got != want:
    sys.exit("diff --json changes %r, want %r" % (sorted(got), sorted(want)))
EOF

say "the changed snapshot restores identically too"
run -r "$R" restore latest --target "$TMP/r3"
expect_rc 0 "restore after change"
treecmp "$S" "$TMP/r3$S" --ignore-sockets

say "ls latest -l and ls --json latest"
run -r "$R" ls latest "$S/files"
expect_rc 0 "ls PATH"
grep -qx "$S/files/added.txt" "$TMP/out" || fail "ls PATH does not list added.txt"
grep -q "$S/many" "$TMP/out" && fail "ls PATH lists entries outside PATH"
run -r "$R" ls latest -l
expect_rc 0 "ls -l"
grep -q "^-rw-.* 11 .*$S/files/added.txt\$" "$TMP/out" || fail "ls -l line of added.txt"
grep -q "$S/many/f0007" "$TMP/out" && fail "ls -l lists the deleted file"
run -r "$R" --json ls latest
expect_rc 0 "ls --json"
"$PY" - "$TMP/out" "$S" <<'EOF' || fail "ls --json output is wrong"
import datetime, json, os, re, stat, sys
src = sys.argv[2]
seen = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    for k in ("path", "type", "size", "mode", "mtime"):
        if k not in o:
            sys.exit("ls --json line without %r: %s" % (k, line))
    seen[o["path"]] = o
for rel in ("files/small.txt", "files/added.txt", "links/relative", "special/fifo",
            "empty-dir", "modes/setuid"):
    p = src + "/" + rel
    o = seen.get(p)
    if o is None:
        sys.exit("ls --json misses %s" % p)
    st = os.lstat(p)
    if o["mode"] != stat.S_IMODE(st.st_mode):
        sys.exit("%s: mode %o, want %o" % (p, o["mode"], stat.S_IMODE(st.st_mode)))
    if stat.S_ISREG(st.st_mode) and o["size"] != st.st_size:
        sys.exit("%s: size %d, want %d" % (p, o["size"], st.st_size))
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", o["mtime"])
    if not m:
        sys.exit("%s: mtime %r is not RFC 3339" % (p, o["mtime"]))
    t = datetime.datetime.fromisoformat(m.group(1) + (m.group(3) if m.group(3) != "Z" else "+00:00"))
    if int(t.timestamp()) != st.st_mtime_ns // 10**9:
        sys.exit("%s: mtime %s, want %d" % (p, o["mtime"], st.st_mtime_ns // 10**9))
types = {o["type"] for o in seen.values()}
for t in ("file", "dir", "symlink", "fifo"):
    if t not in types:
        sys.exit("ls --json shows no entry of type %r (types: %r)" % (t, sorted(types)))
if src + "/many/f0007" in seen:
    sys.exit("ls --json lists the deleted file")
EOF

say "snapshots --json: every field, ids, times, parents"
run -r "$R" --json snapshots
expect_rc 0 "snapshots --json"
"$PY" - "$TMP/out" "$S" "$snap1" "$snap2" "$snap3" "$R" <<'EOF' || fail "snapshots --json is wrong"
import datetime, json, os, pwd, re, socket, sys
out, src, ids, repo = sys.argv[1], sys.argv[2], sys.argv[3:6], sys.argv[6]
arr = json.load(open(out))
if not isinstance(arr, list) or len(arr) != 3:
    sys.exit("want an array of 3 snapshots")
hexre = re.compile(r"[0-9a-f]{64}")
for i, s in enumerate(arr):
    for k in ("id", "short_id", "time", "host", "username", "paths", "tags", "tree", "device",
              "parent"):
        if k not in s:
            sys.exit("snapshot %d has no %r" % (i, k))
    if s["id"] != ids[i]:
        sys.exit("snapshot %d: id %s, want %s (oldest first)" % (i, s["id"], ids[i]))
    if not s["id"].startswith(s["short_id"]) or len(s["short_id"]) < 8:
        sys.exit("short_id %r" % s["short_id"])
    if not hexre.fullmatch(s["tree"]) or not hexre.fullmatch(s["device"]):
        sys.exit("tree or device is not 64 hex digits")
    t = s["time"].replace("Z", "+00:00")
    t = re.sub(r"\.(\d{6})\d*", r".\1", t)
    age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(t)
    if not datetime.timedelta(0) <= age < datetime.timedelta(minutes=30):
        sys.exit("time %r is not now" % s["time"])
    if s["host"] != socket.gethostname():
        sys.exit("host %r, want %r" % (s["host"], socket.gethostname()))
    if s["username"] != pwd.getpwuid(os.getuid()).pw_name:
        sys.exit("username %r" % s["username"])
    if s["paths"] != [src]:
        sys.exit("paths %r" % s["paths"])
    if not os.path.exists(os.path.join(repo, "keys", s["device"] + "-00000000")):
        sys.exit("no key slot named for device %s" % s["device"])
if arr[0]["tags"] != ["first"] or arr[1]["tags"] != []:
    sys.exit("tags %r %r" % (arr[0]["tags"], arr[1]["tags"]))
if arr[0]["parent"] is not None:
    sys.exit("first snapshot has parent %r" % arr[0]["parent"])
if arr[1]["parent"] != ids[0] or arr[2]["parent"] != ids[1]:
    sys.exit("parents %r %r" % (arr[1]["parent"], arr[2]["parent"]))
if arr[0]["tree"] == arr[2]["tree"]:
    sys.exit("a changed snapshot has the same root tree")
EOF

say "--tag and --host select snapshots"
run -r "$R" --json backup --tag second --tag extra --host otherhost "$S/files"
expect_rc 0 "backup with tags and host"
snap4=$(json_get snapshot_id)
run -r "$R" --json snapshots --tag second
expect_rc 0 "snapshots --tag"
n=$("$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); print(" ".join(s["id"] for s in a))' "$TMP/out")
[ "$n" = "$snap4" ] || fail "snapshots --tag second: '$n', want $snap4"
run -r "$R" --json snapshots --host otherhost
expect_rc 0 "snapshots --host"
"$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert [s["id"] for s in a] == [sys.argv[2]], a
assert a[0]["host"] == "otherhost" and sorted(a[0]["tags"]) == ["extra", "second"], a[0]
assert a[0]["parent"] is None, "first snapshot of this host has a parent"
' "$TMP/out" "$snap4" || fail "snapshots --host otherhost"
run -r "$R" snapshots --tag first
expect_rc 0 "snapshots --tag first (text)"
grep -q "^${snap1:0:8}" "$TMP/out" || fail "snapshots --tag first does not list $snap1"
grep -q "^${snap2:0:8}" "$TMP/out" && fail "snapshots --tag first lists an untagged snapshot"
run -r "$R" --json snapshots --host no-such-host
expect_rc 0 "snapshots --host with no match"
[ "$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" = 0 ] ||
	fail "snapshots --host no-such-host is not empty"

say "--include restores only the named paths"
run -r "$R" restore "$snap3" --target "$TMP/r4" --include "$S/links" --include "$S/hard/sub/two"
expect_rc 0 "restore --include"
treecmp "$S/links" "$TMP/r4$S/links"
cmp "$S/hard/sub/two" "$TMP/r4$S/hard/sub/two" || fail "--include of a hard link's second name"
for p in files many hard/one; do
	[ ! -e "$TMP/r4$S/$p" ] || fail "--include restored $p, which was not included"
done

say "--exclude leaves out names and paths"
run -r "$R" --json backup --tag excl --exclude '*.bin' --exclude "$S/many" "$S"
expect_rc 0 "backup --exclude"
run -r "$R" ls latest
expect_rc 0 "ls after exclude"
grep -q '\.bin$' "$TMP/out" && fail "--exclude '*.bin' kept a .bin file"
grep -q "^$S/many" "$TMP/out" && fail "--exclude $S/many kept it"
grep -qx "$S/files/small.txt" "$TMP/out" || fail "--exclude dropped files/small.txt"
run -r "$R" restore latest --target "$TMP/r5"
expect_rc 0 "restore of the excluded snapshot"
treecmp "$S/links" "$TMP/r5$S/links"
for p in many files/random.bin; do
	[ ! -e "$TMP/r5$S/$p" ] || fail "the excluded $p was restored"
done

say "--exclude-file reads patterns (comments and blank lines ignored)"
printf '# a comment\n\n*.txt\n%s\n' "$S/files/sparse.bin" >"$TMP/excludes"
run -r "$R" --json backup --tag exclfile --exclude-file "$TMP/excludes" "$S/files" "$S/links"
expect_rc 0 "backup --exclude-file"
run -r "$R" ls latest
grep -q '\.txt$' "$TMP/out" && fail "--exclude-file '*.txt' kept a .txt file"
grep -q "sparse.bin" "$TMP/out" && fail "--exclude-file kept files/sparse.bin"
grep -qx "$S/files/random.bin" "$TMP/out" || fail "--exclude-file dropped files/random.bin"
grep -qx "$S/links/relative" "$TMP/out" || fail "--exclude-file dropped links/relative"

say "snapshots --path selects by backed-up path"
run -r "$R" --json snapshots --path "$S/links"
expect_rc 0 "snapshots --path"
"$PY" -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a) == 1 and sys.argv[2] in a[0]["paths"], a' "$TMP/out" "$S/links" ||
	fail "snapshots --path $S/links"

say "backup --dry-run writes nothing"
before=$(find "$R" -type f | sort | sha256sum)
touch -r "$S/files" "$TMP/files.time"
printf 'dry run\n' >"$S/files/dry.txt"
run -r "$R" --json backup --dry-run --parent "$snap3" "$S"
expect_rc 0 "backup --dry-run"
[ "$(find "$R" -type f | sort | sha256sum)" = "$before" ] || fail "--dry-run wrote to the repository"
[ "$(json_get files_new)" = 1 ] || fail "--dry-run files_new $(json_get files_new), want 1"
[ "$(json_get files_unmodified)" = "$nfiles" ] || fail "--dry-run --parent: unmodified"
rm "$S/files/dry.txt"
touch -r "$TMP/files.time" "$S/files"

say "restore --verify"
run -r "$R" restore "$snap3" --target "$TMP/rv" --verify
expect_rc 0 "restore --verify"
treecmp "$S" "$TMP/rv$S" --ignore-sockets

say "restore into an existing, non-empty target overwrites what it restores, keeps the rest"
printf 'garbage' >"$TMP/r1$S/files/small.txt"
printf 'keep me\n' >"$TMP/r1/unrelated.txt"
run -r "$R" restore "$snap3" --target "$TMP/r1"
expect_rc 0 "restore into a non-empty target"
[ "$(cat "$TMP/r1/unrelated.txt")" = "keep me" ] || fail "an unrelated file in the target was touched"
treecmp "$S" "$TMP/r1$S" --ignore-sockets --exclude many/f0007

say "check --read-data and check --json"
run -r "$R" check --read-data
expect_rc 0 "check --read-data"
run -r "$R" --json check
expect_rc 0 "check --json"
"$PY" -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"ok": True, "errors": []}' \
	"$TMP/out" || fail "check --json is not {\"ok\":true,\"errors\":[]}"

say "version"
run version
expect_rc 0 "version"
grep -Eq '^coffer [0-9]+\.[0-9]+\.[0-9]+' "$TMP/out" || fail "version output"
run --json version
expect_rc 0 "version --json"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))["version"]' "$TMP/out" ||
	fail "version --json has no version"

say "ok"
