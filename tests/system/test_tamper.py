#!/usr/bin/python3
"""test_tamper.py - every kind of repository object (chain, keys, packs, index, snapshots),
damaged in every way a malicious store could (one byte flipped at the start, middle and end,
truncated, two objects of the same kind swapped by renaming, replaced by an object of the
same kind from another repository, a foreign object added under its own valid name), must be
caught: `check --read-data` and `restore` exit 13 (integrity error), and no restore ever
writes a wrong byte: every restored file equals the original or does not exist. A damaged
data blob names the affected file, and every other file still restores.

A key slot of the recovery key is not used by the device, so damage to it is only required
to be caught when reading with --recovery-key-file. Bytes a restore does not need (a pack's
trailer, an older snapshot) may leave `restore latest` at exit 0 if every file is right;
`check --read-data` must still exit 13, and a restore of the damaged older snapshot too.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

NAME = "test_tamper"
COFFER = os.environ.get("COFFER_BIN")
PARALLEL = 2


def say(msg):
    print("%s: %s" % (NAME, msg), flush=True)


def die(msg):
    print("%s: FAIL: %s" % (NAME, msg), file=sys.stderr, flush=True)
    sys.exit(1)


def env_for(home, cache):
    env = dict(os.environ)
    for k in ("COFFER_REPO", "COFFER_PASSPHRASE_FILE"):
        env.pop(k, None)
    env["COFFER_HOME"] = home
    env["COFFER_CACHE"] = cache
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=98")
    return env


def coffer(env, *args):
    """Run coffer; return (exit status, stdout, stderr). A sanitizer report is a failure."""
    p = subprocess.run([COFFER] + list(args), env=env, capture_output=True, timeout=300)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode in (98, 99) or "Sanitizer" in err:
        die("sanitizer report from coffer %s:\n%s" % (" ".join(args), err[:3000]))
    return p.returncode, p.stdout.decode("utf-8", "replace"), err


def must(env, *args):
    rc, out, err = coffer(env, *args)
    if rc != 0:
        die("coffer %s: exit %d: %s" % (" ".join(args), rc, err.strip()))
    return out


def list_files(root, sub):
    d = os.path.join(root, sub)
    out = []
    for top, _dirs, files in os.walk(d):
        for f in files:
            out.append(os.path.relpath(os.path.join(top, f), root))
    return sorted(out)


class World:
    """The pristine repository, a foreign one, the source files and what each backup wrote."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.src = os.path.join(tmp, "src")
        self.repo = os.path.join(tmp, "repo")
        self.other = os.path.join(tmp, "other")
        self.home = os.path.join(tmp, "home")
        self.env = env_for(self.home, os.path.join(tmp, "cache"))
        self.files = {}  # path relative to src -> content
        self.new_packs = []  # per backup: the packs it added (relative to the repo)
        self.snaps = []  # snapshot ids, oldest first
        self.device = None

    def write(self, rel, data):
        p = os.path.join(self.src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        self.files[rel] = data

    def backup(self, repo):
        before = set(list_files(repo, "packs"))
        out = must(self.env, "-r", repo, "--json", "backup", self.src)
        summary = json.loads(out.strip().splitlines()[-1])
        if repo == self.repo:
            self.new_packs.append(sorted(set(list_files(repo, "packs")) - before))
            self.snaps.append(summary["snapshot_id"])

    def build(self):
        text = b"".join(b"line %06d of a compressible text file\n" % i for i in range(5000))
        self.write("d1/a.bin", os.urandom(40000))
        self.write("d1/b.bin", os.urandom(50000))
        self.write("d1/c.txt", text)
        self.write("fixed/k.txt", b"small file in an unchanging directory\n")
        for repo in (self.repo, self.other):
            must(self.env, "-r", repo, "init", "--recovery-key-file", repo + ".rk")
        self.backup(self.repo)
        self.write("d2/d.bin", os.urandom(60000))
        self.backup(self.repo)
        self.write("d2/e.bin", os.urandom(70000))
        self.backup(self.repo)
        time.sleep(0.05)
        for _ in range(3):
            self.backup(self.other)
        snaps = json.loads(must(self.env, "-r", self.repo, "--json", "snapshots"))
        self.device = snaps[-1]["device"]
        for new in self.new_packs:
            if len(new) < 2:
                die("a backup wrote %d packs, want a data pack and a tree pack" % len(new))

    def data_pack(self, i):
        """The largest pack backup i wrote (its data; tree packs are small)."""
        new = self.new_packs[i]
        return max(new, key=lambda p: os.path.getsize(os.path.join(self.repo, p)))

    def tree_pack(self, i):
        new = self.new_packs[i]
        return min(new, key=lambda p: os.path.getsize(os.path.join(self.repo, p)))

    def same_kind_other(self, rel):
        """An object of the same kind and role from the foreign repository."""
        kind = rel.split("/")[0]
        if kind == "chain":
            return os.path.join(self.other, rel)
        if kind == "keys":
            # The foreign slot for the same recipient kind: the device's own slot if rel is
            # the device's, else the foreign recovery slot.
            mine = os.path.basename(rel).startswith(self.device)
            for f in list_files(self.other, "keys"):
                if os.path.basename(f).startswith(self.device) == mine:
                    return os.path.join(self.other, f)
        if kind == "packs":
            big = max(list_files(self.other, "packs"),
                      key=lambda p: os.path.getsize(os.path.join(self.other, p)))
            return os.path.join(self.other, big)
        if kind in ("index", "snapshots"):
            return os.path.join(self.other, list_files(self.other, kind)[-1])
        die("no foreign object for %s" % rel)
        return None


def flip(path, where):
    size = os.path.getsize(path)
    off = {"start": 0, "mid": size // 2, "end": size - 1}.get(where, where)
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x01]))


def tamper(repo, w, case):
    """Apply one damage to a fresh copy of the repository."""
    op, rel = case["op"], case["obj"]
    path = os.path.join(repo, rel)
    if op == "flip":
        flip(path, case["where"])
    elif op == "truncate":
        os.truncate(path, os.path.getsize(path) * 2 // 3)
    elif op == "swap":
        other = os.path.join(repo, case["obj2"])
        tmp = path + ".swap"
        os.rename(path, tmp)
        os.rename(other, path)
        os.rename(tmp, other)
    elif op == "foreign":
        shutil.copyfile(w.same_kind_other(rel), path)
    elif op == "inject":
        # A foreign object under its own (valid, content-addressed) name.
        foreign = w.same_kind_other(rel)
        shutil.copyfile(foreign, os.path.join(repo, rel.split("/")[0],
                                              os.path.basename(foreign)))
    else:
        die("unknown op %s" % op)


def cases(w):
    dev_slot = [f for f in list_files(w.repo, "keys")
                if os.path.basename(f).startswith(w.device)]
    rec_slot = [f for f in list_files(w.repo, "keys")
                if not os.path.basename(f).startswith(w.device)]
    if len(dev_slot) != 1 or len(rec_slot) != 1:
        die("want one device and one recovery key slot, got %r" % list_files(w.repo, "keys"))
    index = list_files(w.repo, "index")
    snaps = ["snapshots/" + s for s in w.snaps]
    pack1, pack3 = w.data_pack(0), w.data_pack(2)
    c = []

    def add(obj, op, **kw):
        d = {"obj": obj, "op": op, "restore_latest": 13}
        d.update(kw)
        c.append(d)

    for where in ("start", "mid", "end"):
        add("chain/0000000000000000", "flip", where=where)
        add(dev_slot[0], "flip", where=where)
        add(index[0], "flip", where=where)
        add(snaps[-1], "flip", where=where)
    add(pack3, "flip", where="start")
    # The last byte is in the pack's trailer, which a restore does not need (the index gives
    # every blob's place): it may succeed, as long as every byte it writes is right.
    # check --read-data must see the damage.
    add(pack3, "flip", where="end", restore_latest=None)
    # Inside the first data blob (after the 116-byte pack prefix and the blob's nonce).
    add(pack1, "flip", where=116 + 24 + 100, blob=True)
    add(pack1, "flip", where="mid", blob=True)
    # Inside the first tree blob of the latest backup's tree pack: latest needs every tree in it.
    add(w.tree_pack(2), "flip", where=116 + 24 + 10)
    for obj in ("chain/0000000000000000", dev_slot[0], pack3, index[-1], snaps[-1]):
        add(obj, "truncate")
        add(obj, "foreign")
    add(dev_slot[0], "swap", obj2=rec_slot[0])
    add(pack1, "swap", obj2=pack3)
    add(index[0], "swap", obj2=index[-1])
    add(snaps[-1], "swap", obj2=snaps[0])
    add(index[0], "inject")
    add(snaps[-1], "inject")
    # An older snapshot: latest need not be affected, the damaged one must be.
    add(snaps[0], "flip", where="mid", restore_latest=None, restore=w.snaps[0])
    # The recovery key's slot is not the device's business; the recovery key must see it.
    add(rec_slot[0], "flip", where="mid", restore_latest=None, recovery=True)
    add(rec_slot[0], "truncate", restore_latest=None, recovery=True)
    return c


def check_restored(w, target, case, stderr):
    """Every restored file equals its original; return the set of files restored."""
    root = os.path.join(target, w.src.lstrip("/"))
    got = set()
    if not os.path.isdir(root):
        return got
    for rel in list_files(root, ""):
        rel = os.path.normpath(rel)
        if rel not in w.files:
            die("%s: restore wrote an unknown file %s" % (describe(case), rel))
        with open(os.path.join(root, rel), "rb") as f:
            if f.read() != w.files[rel]:
                die("%s: restore wrote WRONG CONTENT to %s (stderr: %s)"
                    % (describe(case), rel, stderr.strip()[:500]))
        got.add(rel)
    return got


def describe(case):
    where = case.get("where")
    return "%s %s%s" % (case["op"], case["obj"], "" if where is None else " at %s" % where)


def restore(w, env, repo, target, case, snap, extra=()):
    rc, _out, err = coffer(env, "-r", repo, *extra, "restore", snap, "--target", target)
    return rc, err, check_restored(w, target, case, err)


def run_case(w, i, case):
    d = os.path.join(w.tmp, "case%02d" % i)
    repo = os.path.join(d, "repo")
    home = os.path.join(d, "home")
    os.makedirs(d)
    subprocess.run(["cp", "-a", w.repo, repo], check=True)
    subprocess.run(["cp", "-a", w.home, home], check=True)
    env = env_for(home, os.path.join(d, "cache"))
    tamper(repo, w, case)
    name = describe(case)
    extra = ("--recovery-key-file", w.repo + ".rk") if case.get("recovery") else ()

    if case.get("recovery"):
        # From the device's side the recovery slot is opaque: 0 or 13 are both right.
        rc, _o, err = coffer(env, "-r", repo, "check", "--read-data")
        if rc not in (0, 13):
            return "%s: device check exit %d, want 0 or 13: %s" % (name, rc, err.strip())
    rc, _o, err = coffer(env, "-r", repo, *extra, "check", "--read-data")
    if rc != 13:
        return "%s: check --read-data exit %d, want 13 (%s)" % (name, rc, err.strip()[:300])
    check_err = err

    rc, err, got = restore(w, env, repo, os.path.join(d, "t1"), case, "latest", extra)
    want = case["restore_latest"]
    if want is None:
        want = 13
        if rc == 0 and got != set(w.files):
            return "%s: restore latest exit 0 but restored only %d of %d files" % (
                name, len(got), len(w.files))
        if rc not in (0, 13):
            return "%s: restore latest exit %d, want 0 or 13: %s" % (name, rc, err.strip())
        if rc == 0:
            say("note: %s: restore latest needs none of the damaged bytes: exit 0, all files "
                "correct" % name)
    elif rc != want:
        return "%s: restore latest exit %d, want %d (%s)" % (name, rc, want, err.strip()[:300])
    if case.get("restore"):
        rc, err, got = restore(w, env, repo, os.path.join(d, "t2"), case, case["restore"], extra)
        if rc != 13:
            return "%s: restore %s exit %d, want 13 (%s)" % (name, case["restore"][:8], rc,
                                                               err.strip()[:300])
    if case.get("blob"):
        # The damaged blob's file is named and left out; everything else restores.
        in_pack = ("d1/a.bin", "d1/b.bin", "d1/c.txt", "fixed/k.txt")
        named = [f for f in in_pack if os.path.join(w.src, f) in err]
        if len(named) != 1:
            return "%s: want exactly one damaged file named, got %r in %r" % (
                name, named, err.strip()[:500])
        if os.path.join(w.src, named[0]) not in check_err:
            return "%s: check --read-data does not name the affected file %s: %r" % (
                name, named[0], check_err.strip()[:500])
        if named[0] in got:
            return "%s: the damaged file %s was restored" % (name, named[0])
        missing = set(w.files) - got - set(named)
        if missing:
            return "%s: files not affected by the damage were not restored: %r" % (
                name, sorted(missing))
    if not os.environ.get("KEEP"):
        shutil.rmtree(d)
    return None


def main():
    if not COFFER:
        die("COFFER_BIN is not set")
    start = time.time()
    tmp = tempfile.mkdtemp(prefix="cf_tamper.")
    try:
        w = World(tmp)
        say("building a repository with three snapshots, and a foreign one")
        w.build()
        say("sanity: the pristine repository checks and restores")
        must(w.env, "-r", w.repo, "check", "--read-data")
        _rc, err, got = restore(w, w.env, w.repo, os.path.join(tmp, "t0"), {"op": "none",
                                "obj": "-"}, "latest")
        if got != set(w.files):
            die("pristine restore gave %r: %s" % (sorted(got), err))
        all_cases = cases(w)
        say("%d damage cases: check --read-data and restore must exit 13, never write "
            "wrong bytes" % len(all_cases))
        failures = []
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as ex:
            futs = [ex.submit(run_case, w, i, c) for i, c in enumerate(all_cases)]
            for c, f in zip(all_cases, futs):
                msg = f.result()
                if msg:
                    failures.append(msg)
                else:
                    say("caught: %s" % describe(c))
        for m in failures:
            print("%s: FAIL: %s" % (NAME, m), file=sys.stderr)
        if failures:
            die("%d of %d damage cases not handled" % (len(failures), len(all_cases)))
        say("ok (%.1f s)" % (time.time() - start))
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
