#!/usr/bin/python3
"""test_trust.py - the trust layer against a malicious server (P2, P4, P5, P7, P8).

The server controls every stored byte; tests/tools/cf_forge plays it: it writes chain
entries signed by any key under any sequence number, key slots with junk keys, and snapshots
signed by a revoked device, and tries to decrypt a snapshot with every key a device's slots
give it. Every attack must be refused with a one-line error and the right exit code (13 for
tampering, rollback or a fork; 12 for a device that is not a member or may not read), and
nothing may be wrapped to an intruder: after each attack no key slot names its id.

 1 add-device signed by a key that is not in the chain
 2 add-device signed by a real device but with a broken link or a wrong sequence number
 3 an entry copied from another repository's chain (same device in both)
 4 a rotate entry with a replaced data key; a key slot replaced by another device's or by
   one carrying junk keys
 5 the chain truncated to before a revocation (rollback); a fork shown to two devices
 6 a device's newest snapshot deleted, an older set of snapshots restored, one withheld
 7 a revoked device: cannot open (12), cannot decrypt what is written after (its old key
   slots give no key for it), its forged snapshots, entries and replayed join are refused
 8 a backup-only device: every read path exits 12, its backups restore on a full device
 9 join/approve: wrong code, a substituted or altered request, no --yes without a terminal
   7b a revocation interrupted between its remove-device and rotate entries
10 recover on a blank machine with the recovery key; a wrong recovery key (12)
11 bad input: damaged device.key, wrong passphrase, malformed pairing codes and ids

Needs COFFER_BIN and CF_FORGE (default: the
cf_forge next to coffer's build). VERBOSE=1 prints every coffer command and its result;
KEEP=1 keeps the sandbox.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

NAME = "test_trust"
COFFER = os.environ.get("COFFER_BIN")
FORGE = os.environ.get("CF_FORGE")
CF_TESTS = os.environ.get("CF_TESTS") or os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))
LIB = os.path.join(CF_TESTS, "system", "lib")
SANITIZER_EXIT = (98, 99)


def say(msg):
    print("%s: %s" % (NAME, msg), flush=True)


def die(msg):
    print("%s: FAIL: %s" % (NAME, msg), file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        die(msg)


def forge_run(*args):
    """Run cf_forge; (exit status, stdout stripped, stderr)."""
    p = subprocess.run([FORGE] + [str(a) for a in args], capture_output=True, timeout=120,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=99"))
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode in SANITIZER_EXIT or "Sanitizer" in err:
        die("sanitizer report from cf_forge %s:\n%s" % (" ".join(map(str, args)), err[:3000]))
    return p.returncode, p.stdout.decode().strip(), err


def forge(*args, want=0):
    """Run cf_forge; return its stdout (stripped). Exit status other than @want fails."""
    rc, out, err = forge_run(*args)
    if rc != want:
        die("cf_forge %s: exit %d, want %d: %s" % (" ".join(map(str, args)), rc, want,
                                                   err.strip()))
    return out


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def listdir(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def tree_digest(root):
    """A digest of every file under @root (names and bytes): to see that nothing changed."""
    h = hashlib.sha256()
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(top, f)
            h.update(os.path.relpath(p, root).encode() + b"\0")
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


class Dev:
    """A device: its own COFFER_HOME and COFFER_CACHE inside the world's directory."""

    def __init__(self, world, name):
        self.w = world
        self.name = name
        self.home = os.path.join(world.root, "home-" + name)
        self.cache = os.path.join(world.root, "cache-" + name)
        self.extra_env = {}
        self._id = None

    def env(self):
        env = dict(os.environ)
        for k in ("COFFER_REPO", "COFFER_PASSPHRASE_FILE", "XDG_CONFIG_HOME",
                  "XDG_CACHE_HOME"):
            env.pop(k, None)
        env["COFFER_HOME"] = self.home
        env["COFFER_CACHE"] = self.cache
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1:exitcode=98")
        env.update(self.extra_env)
        return env

    def run(self, *args, repo=None, leaks=True):
        """coffer -r REPO ARGS with stdin not a terminal; (exit status, stdout, stderr).
        leaks=False: LeakSanitizer off (for a known leak, reported separately)."""
        cmd = [COFFER, "-r", repo or self.w.repo] + [str(a) for a in args]
        env = self.env()
        if not leaks:
            env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:exitcode=99"
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=300)
        err = p.stderr.decode("utf-8", "replace")
        if os.environ.get("VERBOSE"):
            say("  %s: coffer %s -> %d %s" % (self.name, " ".join(cmd[3:]), p.returncode,
                                               err.strip().replace("\n", " | ")[:300]))
        if p.returncode in SANITIZER_EXIT or "Sanitizer" in err:
            die("sanitizer report from %s: %s" % (self.name, " ".join(cmd[1:]))
                + "\n" + err[:3000])
        return p.returncode, p.stdout.decode("utf-8", "replace"), err

    def must(self, *args, repo=None):
        rc, out, err = self.run(*args, repo=repo)
        if rc != 0:
            die("%s: coffer %s: exit %d: %s" % (self.name, " ".join(map(str, args)), rc,
                                                err.strip()))
        return out

    @property
    def key(self):
        return os.path.join(self.home, "device.key")

    @property
    def id(self):
        if self._id is None:
            self._id = forge("keyinfo", self.key).split()[0]
        return self._id

    def join(self, role="full"):
        out = self.must("--json", "devices", "join", "--role", role, "--device-name", self.name)
        return json.loads(out)["code"]

    def snapshots(self, repo=None):
        return json.loads(self.must("--json", "snapshots", repo=repo))


def one_line_error(err, what):
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: stderr is not one line: %r" % (what, err[:600]))
    check(lines[0].startswith("coffer: "), "%s: stderr does not start with 'coffer: ': %r"
          % (what, lines[0]))


def expect(dev, args, want, what, contains=(), repo=None, one_line=True, leaks=True):
    """Run coffer as @dev; exit status @want, a one-line error naming each of @contains."""
    rc, out, err = dev.run(*args, repo=repo, leaks=leaks)
    check(rc == want, "%s: %s: coffer %s: exit %d, want %d: %s"
          % (what, dev.name, " ".join(map(str, args)), rc, want, err.strip()[:600]))
    if want != 0 and one_line:
        one_line_error(err, "%s: %s: coffer %s" % (what, dev.name, " ".join(map(str, args))))
    for c in contains:
        check(c.lower() in (out + err).lower(), "%s: %s: output does not mention %r: %r"
              % (what, dev.name, c, (out + err).strip()[:600]))
    return out, err


class World:
    """A repository, its recovery key and its devices, all under one directory."""

    def __init__(self, tmp, name):
        self.tmp = tmp
        self.root = os.path.join(tmp, name)
        self.repo = os.path.join(self.root, "repo")
        self.rk = os.path.join(self.root, "repo.rk")
        self.devs = {}
        self.meta = {}
        os.makedirs(self.root)

    def dev(self, name):
        if name not in self.devs:
            self.devs[name] = Dev(self, name)
        return self.devs[name]

    def init(self, name):
        d = self.dev(name)
        d.must("init", "--device-name", name, "--recovery-key-file", self.rk)
        return d

    def add(self, name, by, role="full"):
        d = self.dev(name)
        code = d.join(role)
        by.must("devices", "approve", code, "--yes")
        return d

    def clone(self, name):
        """An independent copy: the repository, every device's home and cache, saved state."""
        w = World.__new__(World)
        w.tmp = self.tmp
        w.root = os.path.join(self.tmp, name)
        w.repo = os.path.join(w.root, "repo")
        w.rk = os.path.join(w.root, "repo.rk")
        shutil.copytree(self.root, w.root, symlinks=True)
        w.devs = {}
        w.meta = dict(self.meta)
        for n, d in self.devs.items():
            w.dev(n)._id = d._id
        return w

    def chain(self):
        return listdir(os.path.join(self.repo, "chain"))

    def chain_path(self, seq):
        return os.path.join(self.repo, "chain", "%016x" % seq)

    def slots(self):
        return listdir(os.path.join(self.repo, "keys"))

    def slot_path(self, dev_id, epoch):
        return os.path.join(self.repo, "keys", "%s-%08x" % (dev_id, epoch))

    def snapshot_files(self):
        return listdir(os.path.join(self.repo, "snapshots"))

    def snapshot_path(self, sid):
        return os.path.join(self.repo, "snapshots", sid)

    def no_slot_for(self, dev_id, what):
        bad = [s for s in self.slots() if s.startswith(dev_id)]
        check(not bad, "%s: key slots were written for the intruder: %r" % (what, bad))

    def state(self):
        """Digest of the chain, the key slots and the join requests."""
        return tuple(tree_digest(os.path.join(self.repo, s))
                     for s in ("chain", "keys", "requests"))

    def saved(self, tag):
        return os.path.join(self.root, "saved-" + tag)

    def save(self, sub, tag=None):
        """Copy REPO/sub aside under @tag (default: sub); restore() puts it back exactly."""
        dst = self.saved(tag or sub)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(os.path.join(self.repo, sub), dst)
        return dst

    def restore(self, sub, tag=None):
        path = os.path.join(self.repo, sub)
        shutil.rmtree(path)
        shutil.copytree(self.saved(tag or sub), path)


def snapshot_head(path):
    """epoch, device id hex, seq of a snapshot object's clear header (format.md 8)."""
    with open(path, "rb") as f:
        b = f.read(84)
    return (int.from_bytes(b[8:12], "big"), b[12:44].hex(), int.from_bytes(b[44:52], "big"))


def snapshots_of(w, dev_id):
    """{seq: snapshot id} of one device, from the clear headers."""
    out = {}
    for sid in w.snapshot_files():
        _e, dev, seq = snapshot_head(w.snapshot_path(sid))
        if dev == dev_id:
            out[seq] = sid
    return out


def make_src(path):
    """A small tree with a few kinds of entries."""
    os.makedirs(os.path.join(path, "d", "sub"))
    with open(os.path.join(path, "d", "a.txt"), "wb") as f:
        f.write(b"".join(b"line %05d of a text file\n" % i for i in range(3000)))
    with open(os.path.join(path, "d", "sub", "b.bin"), "wb") as f:
        f.write(os.urandom(70000))
    with open(os.path.join(path, "empty"), "wb"):
        pass
    os.symlink("d/a.txt", os.path.join(path, "link"))
    os.chmod(os.path.join(path, "d", "sub", "b.bin"), 0o640)


def treecmp(a, b, what):
    p = subprocess.run([sys.executable, os.path.join(LIB, "treecmp.py"), a, b,
                        "--ignore-atime", "--ignore-sockets"], capture_output=True, timeout=300)
    check(p.returncode == 0, "%s: restored tree %s differs from %s:\n%s"
          % (what, b, a, p.stdout.decode("utf-8", "replace")[:2000]))


def restored(target, src):
    return os.path.join(target, src.lstrip("/"))


def other_symbol(code, pos):
    """@code with the symbol at @pos replaced by another Crockford base32 symbol."""
    alpha = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    s = list(code)
    s[pos] = alpha[(alpha.index(s[pos].upper()) + 5) % 32]
    return "".join(s)


# ---- the worlds the scenarios start from ----


def base_world(tmp, src):
    """alice (creator, full) and bob (full), one snapshot by each; both have looked."""
    w = World(tmp, "base")
    a = w.init("alice")
    w.add("bob", a)
    a.must("backup", src)
    w.dev("bob").must("backup", src)
    a.must("snapshots")
    w.dev("bob").must("snapshots")
    return w


def revoked_world(tmp, src, base):
    """base + carol (full), who backs up once and is then revoked by alice (entries 3, 4);
    then alice and bob back up again, in the new epoch."""
    w = base.clone("revoked")
    a, b, c = w.dev("alice"), w.dev("bob"), w.dev("carol")
    code = c.join()
    w.meta["carol_code"] = code
    shutil.copy(os.path.join(w.repo, "requests", c.id), os.path.join(w.root, "carol-request"))
    a.must("devices", "approve", code, "--yes")
    c.must("backup", src)
    c.must("snapshots")
    w.save("keys", "keys-before-revoke")  # carol's key slots as she had them
    w.save("chain", "chain-before-revoke")
    check(len(w.chain()) == 3, "want 3 chain entries before the revocation")
    w.meta["old_snapshot"] = snapshots_of(w, a.id)[1]
    a.must("devices", "revoke", c.id[:12])
    check(len(w.chain()) == 5, "revoke: want two more entries, remove-device and rotate")
    a.must("backup", src)
    b.must("backup", src)
    a.must("snapshots")
    b.must("snapshots")
    # the revoked device's earlier snapshot still verifies and reads
    a.must("check", "--read-data")
    return w


# ---- the scenarios ----


def expect_check(dev, want, what, contains=()):
    """`check` must exit @want; when the repository does not even open, it must say why."""
    rc, out, err = dev.run("check")
    check(rc == want, "%s: %s: coffer check: exit %d, want %d: %s"
          % (what, dev.name, rc, want, err.strip()[:600]))
    said = [c for c in contains if c.lower() in (out + err).lower()]
    check(err.strip() != "" and len(said) == len(contains),
              "%s: coffer check exits %d and says %r" % (what, rc, err.strip()[:200]))


def every_command(w, dev, want, what, contains=()):
    """Every command that opens the repository must exit @want."""
    t = os.path.join(w.root, "refused-target")
    for args in (("snapshots",), ("ls", "latest"), ("restore", "latest", "--target", t),
                 ("backup", w.rk), ("devices", "list")):
        expect(dev, args, want, what, contains)
    expect_check(dev, want, what, contains)
    check(not os.path.exists(t), "%s: a refused restore wrote files" % what)


def s1_foreign_signer(base, src):
    say("1: an add-device entry signed by a key that is not in the chain")
    w = base.clone("s1")
    a, b = w.dev("alice"), w.dev("bob")
    evil = w.dev("evil")
    os.makedirs(evil.home, mode=0o700)
    evil_id = forge("keygen", evil.key, "--name", "evil")
    snaps = w.snapshot_files()
    forge("append", w.repo, "--signer-key", evil.key, "--type", "add-device",
          "--device-key", evil.key, "--name", "evil")
    # a slot for the intruder (junk keys: the server has no others) does not help it
    forge("keyslot", w.repo, "--for-device-key", evil.key, "--epoch", 0)
    for d in (a, b):
        every_command(w, d, 13, "foreign signer", ["chain entry 2", "signer"])
    check(w.snapshot_files() == snaps, "foreign signer: a backup was written")
    # a revocation would wrap a new epoch's key to every full device the chain lists
    for args in (("devices", "revoke", b.id[:16]), ("devices", "rename", b.id[:16], "x")):
        expect(a, args, 13, "foreign signer", ["chain entry 2"])
    expect(evil, ("snapshots",), 13, "foreign signer, seen by the intruder itself")
    os.remove(w.slot_path(evil_id, 0))
    w.no_slot_for(evil_id, "foreign signer")

    # the same entry in alice's name, signed by the intruder: a bad signature
    forge("append", w.repo, "--signer-key", evil.key, "--signer-id", a.id, "--seq", 2,
          "--type", "add-device", "--device-key", evil.key, "--name", "evil")
    for d in (a, b):
        expect(d, ("snapshots",), 13, "forged signature", ["chain entry 2", "signature"])
        expect(d, ("backup", src), 13, "forged signature")
    w.no_slot_for(evil_id, "forged signature")
    # every other entry type from the intruder is refused the same way
    for typ, extra in (("remove-device", ["--device", b.id]),
                       ("rename", ["--device", a.id, "--name", "mallory"]),
                       ("rotate", ["--epoch", 1, "--dk-pub", "42" * 32]),
                       ("set-recovery", ["--device-key", evil.key])):
        forge("append", w.repo, "--signer-key", evil.key, "--seq", 2, "--type", typ, *extra)
        expect(b, ("snapshots",), 13, "foreign signer: " + typ, ["chain entry 2", "signer"])
    os.remove(w.chain_path(2))
    expect(b, ("snapshots",), 0, "foreign signer: the genuine chain again")


def s2_broken_link(base, src):
    say("2: add-device signed by a real device, with a broken link or a wrong sequence")
    w = base.clone("s2")
    a, b = w.dev("alice"), w.dev("bob")
    evil = os.path.join(w.root, "evil.key")
    evil_id = forge("keygen", evil)
    head = sha256_file(w.chain_path(1))
    w.save("chain")
    # (what, options, words in the error, stored under a name that is not its seq)
    cases = (
        ("random prev", ["--prev", "11" * 32], ["chain entry 2", "link"], False),
        ("prev of an older entry", ["--prev", sha256_file(w.chain_path(0))],
         ["chain entry 2", "link"], False),
        ("seq 3 stored as entry 2", ["--seq", 3, "--as", 2, "--prev", head], ["entry 2"],
         True),
        ("seq 1 again, stored as entry 2", ["--seq", 1, "--as", 2, "--prev", head],
         ["entry 2"], True),
        ("seq 5 stored as entry 5, a gap", ["--seq", 5, "--prev", head], ["entry 2"], False),
        ("seq 2 in place of entry 1", ["--seq", 2, "--as", 1, "--prev", head], ["entry 1"],
         True),
    )
    for what, extra, words, misnamed in cases:
        forge("append", w.repo, "--signer-key", a.key, "--type", "add-device",
              "--device-key", evil, "--name", "evil", *extra)
        if misnamed:
            rc, _o, _e = a.run("snapshots", leaks=False)
            check(rc == 13, "broken link: %s: exit %d" % (what, rc))
            p = subprocess.run([COFFER, "-r", w.repo, "snapshots"], env=a.env(),
                               capture_output=True, timeout=300)
            check(b"LeakSanitizer" not in p.stderr,
                      "%s: LeakSanitizer reports a leak in cf_repo_open" % what)
        for d in (a, b):
            expect(d, ("snapshots",), 13, "broken link: " + what, words, leaks=not misnamed)
            expect(d, ("backup", src), 13, "broken link: " + what, leaks=not misnamed)
        w.no_slot_for(evil_id, "broken link: " + what)
        w.restore("chain")
    expect(b, ("snapshots",), 0, "broken link: the genuine chain again")


def s3_copied_entry(base, src):
    say("3: an entry copied from another repository's chain (same device in both)")
    w = base.clone("s3")
    a, b, evil = w.dev("alice"), w.dev("bob"), w.dev("evil")
    other = os.path.join(w.root, "other")
    a.must("init", "--recovery-key-file", other + ".rk", repo=other)
    a.must("devices", "rename", a.id[:16], "alice2", repo=other)
    code = json.loads(evil.must("--json", "devices", "join", repo=other))["code"]
    a.must("devices", "approve", code, "--yes", repo=other)
    evil.must("snapshots", repo=other)
    # other's entry 2: alice adds evil. Right signer, signature and seq for here.
    shutil.copy(os.path.join(other, "chain", "%016x" % 2), w.chain_path(2))
    for d in (a, b):
        expect(d, ("snapshots",), 13, "copied entry", ["chain entry 2"])
        expect(d, ("backup", src), 13, "copied entry")
    # its key slot copied over too: it opens for evil, but in the other repository only
    shutil.copy(os.path.join(other, "keys", "%s-00000000" % evil.id), w.slot_path(evil.id, 0))
    expect(evil, ("snapshots",), 13, "copied entry and slot, seen by the intruder")
    os.remove(w.slot_path(evil.id, 0))
    w.no_slot_for(evil.id, "copied entry")
    # other's entry 1 (alice renames herself) in place of bob's add-device (entry 1)
    os.remove(w.chain_path(2))
    shutil.copy(os.path.join(other, "chain", "%016x" % 1), w.chain_path(1))
    for d in (a, b):
        expect(d, ("snapshots",), 13, "copied entry in place of entry 1", ["chain entry 1"])
    w.no_slot_for(evil.id, "copied entry in place of entry 1")


def s4_rotate(rv, src):
    say("4: a rotate entry with a replaced data key; replaced key slots")
    w = rv.clone("s4")
    a, b, c = w.dev("alice"), w.dev("bob"), w.dev("carol")
    evil = os.path.join(w.root, "evil.key")
    evil_id = forge("keygen", evil)
    evil_box = forge("keyinfo", evil).split()[2]
    snaps = w.snapshot_files()
    fresh = w.dev("fresh")
    os.makedirs(fresh.home, mode=0o700)
    w.save("chain")
    for what, signer, extra in (
            ("re-signed by the forger", evil, []),
            ("signed by the forger in alice's name", evil, ["--signer-id", a.id]),
            ("re-signed by the revoked device", c.key, [])):
        forge("append", w.repo, "--signer-key", signer, "--seq", 4, "--type", "rotate",
              "--epoch", 1, "--dk-pub", evil_box, *extra)
        for d in (a, b):
            expect(d, ("snapshots",), 13, "rotate " + what, ["chain entry 4"])
            expect(d, ("backup", src), 13, "rotate " + what)
        # a blank machine has no head to compare with: the signature alone must refuse it
        expect(fresh, ("--recovery-key-file", w.rk, "snapshots"), 13,
               "rotate %s, seen by the recovery key on a blank machine" % what,
               ["chain entry 4"])
        w.restore("chain")
    check(w.snapshot_files() == snaps, "rotate: a backup was written under the forged key")
    w.no_slot_for(evil_id, "rotate")

    # the genuine rotate stays; bob's slot of epoch 1 is replaced
    bob1, alice1 = w.slot_path(b.id, 1), w.slot_path(a.id, 1)
    rec1 = [os.path.join(w.repo, "keys", s) for s in w.slots()
            if s.endswith("-00000001") and not s.startswith((a.id, b.id))]
    check(len(rec1) == 1, "want exactly one other slot of epoch 1 (the recovery key's)")
    shutil.copy(bob1, bob1 + ".saved")
    for what, make in (
            ("alice's slot copied over bob's", lambda: shutil.copy(alice1, bob1)),
            ("the recovery key's slot copied over bob's", lambda: shutil.copy(rec1[0], bob1)),
            ("a slot sealed to bob with junk keys",
             lambda: forge("keyslot", w.repo, "--for-device-key", b.key, "--epoch", 1))):
        make()
        expect(b, ("snapshots",), 13, "slot: " + what, ["key slot", b.id[:16]])
        expect(b, ("restore", "latest", "--target", os.path.join(w.root, "t")), 13,
               "slot: " + what)
        expect(b, ("backup", src), 13, "slot: " + what)
        expect(a, ("snapshots",), 0, "slot: %s: alice is not affected" % what)
        shutil.copy(bob1 + ".saved", bob1)
    # bob's slot of epoch 1 withheld: a full device of the chain lacks a key it must have
    os.remove(bob1)
    rc, _o, err = b.run("snapshots")
    check(rc in (12, 13), "slot withheld: exit %d: %s" % (rc, err.strip()))
    one_line_error(err, "slot withheld")
    check(rc == 13 and "backup-only" not in err,
              "a full device whose key slot of epoch 1 is withheld: exit %d: %s"
              % (rc, err.strip()))
    shutil.copy(bob1 + ".saved", bob1)
    os.remove(bob1 + ".saved")
    expect(b, ("snapshots",), 0, "slot back again")
    forge("keyslot", w.repo, "--for-device-key", b.key, "--epoch", 0)
    expect(b, ("snapshots",), 13, "slot of epoch 0 with junk keys", ["key slot"])
    check(w.snapshot_files() == snaps, "replaced slots: a backup was written")


def s5_rollback_fork(rv, src):
    say("5: the chain rolled back to before a revocation; a fork shown to two devices")
    w = rv.clone("s5")
    a, b, c = w.dev("alice"), w.dev("bob"), w.dev("carol")
    w.save("chain")
    for what, gone in (("to before the revocation", (3, 4)),
                       ("to between remove-device and rotate", (4,))):
        for seq in gone:
            os.remove(w.chain_path(seq))
        for d in (a, b):
            expect(d, ("snapshots",), 13, "rollback " + what, ["rolled back"])
            expect(d, ("backup", src), 13, "rollback " + what, ["rolled back"])
            expect(d, ("devices", "list"), 13, "rollback " + what, ["rolled back"])
        w.restore("chain")
    expect(b, ("snapshots",), 0, "rollback: the genuine chain again")

    # The revoked device never saw the revocation: shown the old chain it opens it, but
    # still cannot read what was written after its revocation.
    w.restore("chain", "chain-before-revoke")
    newest = snapshots_of(w, a.id)[2]
    t = os.path.join(w.root, "t-carol")
    rc, _o, err = c.run("restore", newest, "--target", t)
    check(rc not in (0, 3), "rolled-back chain: the revoked device restored a snapshot "
          "written after its revocation (exit %d)" % rc)
    one_line_error(err, "rolled-back chain, revoked device")
    check(not os.path.exists(restored(t, src)), "rolled-back chain: carol's restore wrote "
          "files")
    w.restore("chain")

    # A fork: the same repository state, then two different entries 5.
    x, y = w.clone("s5-x"), w.clone("s5-y")
    x.dev("alice").must("devices", "rename", b.id[:16], "bee")
    y.dev("bob").must("devices", "rename", a.id[:16], "ay")
    check(sha256_file(x.chain_path(5)) != sha256_file(y.chain_path(5)),
          "fork: the two entries 5 are the same")
    for d, other in ((y.dev("bob"), x), (x.dev("alice"), y)):
        expect(d, ("snapshots",), 13, "fork", ["fork"], repo=other.repo)
        expect(d, ("backup", src), 13, "fork", repo=other.repo)
        expect(d, ("devices", "list"), 13, "fork", repo=other.repo)


def s6_snapshot_sequences(base, src):
    say("6: a device's newest snapshot deleted, older snapshots restored, one withheld")
    w = base.clone("s6")
    a, b = w.dev("alice"), w.dev("bob")
    older = w.clone("s6-older")  # the repository when alice had written snapshot 1 only
    a.must("backup", src)
    a.must("backup", src)
    a.must("snapshots")
    b.must("snapshots")
    seqs = snapshots_of(w, a.id)
    check(sorted(seqs) == [1, 2, 3], "want alice's snapshots 1, 2, 3, got %r" % sorted(seqs))
    for sub in ("snapshots", "index", "packs"):
        w.save(sub)

    os.remove(w.snapshot_path(seqs[3]))
    for d in (a, b):
        expect(d, ("snapshots",), 13, "newest deleted", ["alice", "snapshot 3"])
        expect(d, ("check",), 13, "newest deleted", ["alice", "snapshot 3"], one_line=False)
    w.restore("snapshots")
    expect(b, ("snapshots",), 0, "newest deleted: back again")

    for sub in ("snapshots", "index", "packs"):
        shutil.rmtree(os.path.join(w.repo, sub))
        shutil.copytree(os.path.join(older.repo, sub), os.path.join(w.repo, sub))
    for d in (a, b):
        expect(d, ("snapshots",), 13, "older set restored", ["alice", "snapshot 3"])
        expect(d, ("check",), 13, "older set restored", ["alice", "snapshot 3"],
               one_line=False)
        expect(d, ("restore", "latest", "--target", os.path.join(w.root, "t")), 13,
               "older set restored")
    check(not os.path.exists(os.path.join(w.root, "t")), "older set: a restore wrote files")
    for sub in ("snapshots", "index", "packs"):
        w.restore(sub)

    # one in the middle withheld: a gap, seen even without any history
    os.remove(w.snapshot_path(seqs[2]))
    blank = w.dev("blank")
    os.makedirs(blank.home, mode=0o700)
    expect(blank, ("--recovery-key-file", w.rk, "snapshots"), 13,
           "gap, seen by the recovery key on a blank machine", ["alice", "snapshot 2"])
    expect(a, ("snapshots",), 13, "gap", ["alice", "snapshot 2"])
    expect(a, ("check",), 13, "gap", ["alice", "snapshot 2"], one_line=False)
    w.restore("snapshots")
    # snapshot 2 swapped for another snapshot 2 that alice signed (a server cannot sign:
    # it shows a second branch of her history, from a copy of the repository)
    older.dev("alice").must("backup", src, repo=older.repo)
    other2 = snapshots_of(older, a.id)[2]
    os.remove(w.snapshot_path(seqs[2]))
    shutil.copy(older.snapshot_path(other2), w.snapshot_path(other2))
    for d in (a, b):
        expect(d, ("snapshots",), 13, "snapshot 2 from another branch", ["alice", "snapshot 3"])
    expect(a, ("check",), 13, "snapshot 2 from another branch", ["alice", "snapshot 3"],
           one_line=False)


def s7_revoked(rv, src):
    say("7: a revoked device: refused, cannot decrypt new snapshots, its forgeries refused")
    w = rv.clone("s7")
    a, b, c = w.dev("alice"), w.dev("bob"), w.dev("carol")
    t = os.path.join(w.root, "t")
    for args in (("snapshots",), ("ls", "latest"), ("restore", "latest", "--target", t),
                 ("check",), ("backup", src), ("devices", "list"),
                 ("devices", "revoke", a.id[:16])):
        expect(c, args, 12, "revoked device", ["not a member"])
    check(not os.path.exists(t), "revoked device: a refused restore wrote files")
    # nothing of the new epoch is wrapped to carol: slots for alice, bob and the recovery key
    epoch1 = sorted(s[:64] for s in w.slots() if s.endswith("-00000001"))
    check(len(epoch1) == 3 and a.id in epoch1 and b.id in epoch1 and c.id not in epoch1,
          "revocation: the slots of epoch 1 are %r" % epoch1)
    check(w.slot_path(c.id, 0) in [os.path.join(w.repo, "keys", s) for s in w.slots()],
          "revocation: carol's old slot is gone (expected kept: it is old data)")

    # her old key slots (as stored now, and as she kept them) give no key for new snapshots
    old = w.snapshot_path(w.meta["old_snapshot"])
    check(snapshot_head(old)[0] == 0, "the old snapshot is not of epoch 0")
    forge("try-snapshot", w.repo, old, "--device-key", c.key, want=0)
    new = [w.snapshot_path(snapshots_of(w, d.id)[2]) for d in (a, b)]
    for path in new:
        check(snapshot_head(path)[0] == 1, "a snapshot written after the revocation is not "
              "of epoch 1")
        forge("try-snapshot", w.repo, path, "--device-key", c.key, want=3)
        forge("try-snapshot", w.repo, path, "--device-key", c.key, "--keys",
              w.saved("keys-before-revoke"), want=3)
        forge("try-snapshot", w.repo, path, "--device-key", b.key, want=0)

    # snapshots she forges after her revocation are refused by everyone
    carol1 = snapshots_of(w, c.id)[1]
    for what, extra, words in (
            ("seq 2", ["--seq", 2, "--prev", carol1], ["revoked", "carol"]),
            ("seq 2, sealed to epoch 0", ["--seq", 2, "--prev", carol1, "--epoch", 0],
             ["revoked", "carol"]),
            ("a second seq 1", ["--seq", 1], ["carol", "snapshot"])):
        sid = forge("snapshot", w.repo, "--signer-key", c.key, *extra)
        for d in (a, b):
            expect(d, ("snapshots",), 13, "revoked device's snapshot, " + what, words)
        expect(a, ("check",), 13, "revoked device's snapshot, " + what, words, one_line=False)
        os.remove(w.snapshot_path(sid))
    evil = os.path.join(w.root, "evil.key")
    evil_id = forge("keygen", evil)
    sid = forge("snapshot", w.repo, "--signer-key", evil, "--seq", 1)
    expect(a, ("snapshots",), 13, "snapshot by a stranger", ["not signed by a device"])
    os.remove(w.snapshot_path(sid))
    expect(a, ("snapshots",), 0, "revoked device: forgeries removed")

    # her key cannot add anyone any more (a server with her stolen key)
    w.save("chain")
    forge("append", w.repo, "--signer-key", c.key, "--type", "add-device",
          "--device-key", evil, "--name", "evil")
    for d in (a, b):
        expect(d, ("snapshots",), 13, "add-device by the revoked device",
               ["chain entry 5", "signer"])
    w.restore("chain")
    w.no_slot_for(evil_id, "add-device by the revoked device")

    # her old join request, replayed: the approver refuses a removed device
    before = w.state()
    shutil.copy(os.path.join(w.root, "carol-request"), os.path.join(w.repo, "requests", c.id))
    rc, _o, err = a.run("devices", "approve", w.meta["carol_code"], "--yes")
    check(rc != 0, "replayed join request of a revoked device: approved")
    check("coffer: " in err and "member" in err, "replayed join request: %r" % err)
    os.remove(os.path.join(w.repo, "requests", c.id))
    check(w.state() == before, "replayed join request: the chain or the key slots changed")
    expect(c, ("devices", "join"), 1, "revoked device joins again", ["member"])


def s7b_interrupted_revocation(base, src):
    say("7b: a revocation interrupted between remove-device and rotate")
    w = base.clone("s7b")
    a = w.dev("alice")
    e = w.add("erin", a)
    # alice's revoke got as far as its first entry (a crash, or a lost race for entry 3)
    forge("append", w.repo, "--signer-key", a.key, "--type", "remove-device",
          "--device", e.id, "--last-seq", 0)
    expect(e, ("snapshots",), 12, "half-revoked device", ["not a member"])
    rc, out, err = a.run("--json", "backup", src)
    if rc == 0:
        sid = json.loads(out.strip().splitlines()[-1])["snapshot_id"]
        rc, out, err = forge_run("try-snapshot", w.repo, w.snapshot_path(sid), "--device-key",
                                 e.key)
        check(rc in (0, 3), "try-snapshot: exit %d: %s" % (rc, err))
        check(rc == 3, "after an interrupted revocation the revoked device decrypts a "
                  "new snapshot: %s" % out)
    rc, _o, err = a.run("devices", "revoke", e.id[:16])
    check(rc == 0 or len(w.chain()) == 5, "the interrupted revocation cannot be completed: "
              "devices revoke: exit %d: %s" % (rc, err.strip()))


def s8_backup_only(base, src, hostile):
    say("8: a backup-only device: every read path refused (12), its backups restore")
    w = base.clone("s8")
    a, b = w.dev("alice"), w.dev("bob")
    d = w.add("dora", a, role="backup-only")
    check(sorted(s for s in w.slots() if s.startswith(d.id)) == ["%s-00000000" % d.id],
          "backup-only: want one key slot, of the current epoch")
    ids = [s["id"] for s in a.snapshots()]
    t = os.path.join(w.root, "t-dora")
    words = ["backup-only"]
    for args in (("snapshots",), ("--json", "snapshots"), ("ls", "latest"),
                 ("ls", ids[0][:8], "-l"), ("restore", "latest", "--target", t),
                 ("restore", ids[0], "--target", t, "--include", src),
                 ("diff", ids[0], ids[1]), ("check", "--read-data")):
        out, _e = expect(d, args, 12, "backup-only", words)
        check(out == "", "backup-only: %r printed %r" % (args, out[:200]))
    check(not os.path.exists(t), "backup-only: a refused restore wrote files")
    # its device key is not a recovery key
    expect(d, ("--recovery-key-file", d.key, "snapshots"), 1, "backup-only, device key as "
           "recovery key", ["recovery key"])
    # it cannot change the chain
    before = w.state()
    expect(d, ("devices", "revoke", a.id[:16]), 1, "backup-only revokes", ["full device"])
    expect(d, ("devices", "rename", a.id[:16], "x"), 1, "backup-only renames", ["full device"])
    check(w.state() == before, "backup-only: the chain changed")
    # a server holding its stolen key cannot add anyone either
    w.save("chain")
    evil = os.path.join(w.root, "evil.key")
    evil_id = forge("keygen", evil)
    forge("append", w.repo, "--signer-key", d.key, "--type", "add-device",
          "--device-key", evil, "--name", "evil")
    expect(a, ("snapshots",), 13, "add-device signed by the backup-only device",
           ["signer"])
    w.restore("chain")
    w.no_slot_for(evil_id, "add-device signed by the backup-only device")

    # it backs up; it cannot read its own snapshot; a full device restores it identically
    rc, out, err = d.run("--json", "backup", hostile)
    check(rc == 0, "backup-only backup: exit %d: %s" % (rc, err.strip()[:500]))
    sid = json.loads(out.strip().splitlines()[-1])["snapshot_id"]
    expect(d, ("restore", sid, "--target", t), 12, "backup-only, its own snapshot", words)
    forge("try-snapshot", w.repo, w.snapshot_path(sid), "--device-key", d.key, want=3)
    ta = os.path.join(w.root, "t-alice")
    a.must("restore", sid, "--target", ta)
    treecmp(hostile, restored(ta, hostile), "backup-only device's snapshot, restored by alice")
    b.must("check", "--read-data")


def s9_join_approve(base, src):
    say("9: join and approve: wrong code, substituted or altered request, no --yes")
    w = base.clone("s9")
    a = w.dev("alice")
    j, evil = w.dev("joiner"), w.dev("evil")
    code = j.join("backup-only")
    evil.join("full")  # the intruder's own valid request, for the server to use below
    req = os.path.join(w.repo, "requests", j.id)
    shutil.copy(req, req + ".genuine")
    before = w.state()
    n_chain = len(w.chain())

    def unchanged(what):
        check(len(w.chain()) == n_chain, "%s: the chain grew" % what)
        w.no_slot_for(j.id, what)
        w.no_slot_for(evil.id, what)

    for pos in (0, 6, 18):
        wrong = other_symbol(code, pos)
        expect(a, ("devices", "approve", wrong, "--yes"), 1, "wrong code", ["no join request"])
        unchanged("wrong code")
    check(w.state() == before, "wrong code: something changed")

    # the server replaces the request with the intruder's own (valid, self-signed)
    os.replace(os.path.join(w.repo, "requests", evil.id), req)
    expect(a, ("devices", "approve", code, "--yes"), 1, "substituted request",
           ["no join request"])
    unchanged("substituted request")
    # the genuine request with its role (byte 72) or name changed, or its keys swapped
    with open(req + ".genuine", "rb") as f:
        genuine = f.read()
    # format.md 10.1: prefix 8 | sign_pk 32 | box_pk 32 | role 1 | time 8 | name str8 | sig
    check(genuine[72] == 2 and genuine[81:88] == b"\x06joiner",
          "the join request's layout is not the one of format.md 10.1")
    evil_box = forge("keyinfo", evil.key).split()[2]
    for what, data in (
            ("role raised to full", genuine[:72] + b"\x01" + genuine[73:]),
            ("name changed", genuine[:82] + bytes([genuine[82] ^ 1]) + genuine[83:]),
            ("box key swapped", genuine[:40] + bytes.fromhex(evil_box) + genuine[72:]),
            ("signature flipped", genuine[:-1] + bytes([genuine[-1] ^ 1])),
            ("truncated", genuine[:100])):
        with open(req, "wb") as f:
            f.write(data)
        expect(a, ("devices", "approve", code, "--yes"), 1, "altered request: " + what,
               ["no join request"])
        unchanged("altered request: " + what)

    # the genuine request, approved as DESIGN's contract has it: "devices approve CODE", with
    # no --yes and stdin not a terminal (the code given is the consent; a terminal is asked)
    shutil.copy(req + ".genuine", req)
    rc, _o, err = a.run("devices", "approve", code)
    check(rc == 0, "approve without --yes on a non-terminal: exit %d: %r" % (rc, err))
    check(code in err, "approve does not show the pairing code it approves: %r" % err)
    devs = {x["id"]: x for x in json.loads(a.must("--json", "devices", "list"))["devices"]}
    check(devs[j.id]["role"] == "backup-only" and devs[j.id]["added_by"] == "alice",
          "approved joiner: %r" % devs[j.id])
    check(not os.path.exists(req), "the spent join request was not deleted")
    w.no_slot_for(evil.id, "approve")


def s10_recover(rv, src, hostile):
    say("10: recover on a blank machine with the recovery key; a wrong recovery key")
    w = rv.clone("s10")
    a, b = w.dev("alice"), w.dev("bob")
    rc, out, err = a.run("--json", "backup", hostile)
    check(rc == 0, "backup of the hostile tree: exit %d: %s" % (rc, err[:500]))
    hostile_id = json.loads(out.strip().splitlines()[-1])["snapshot_id"]
    old_id = w.meta["old_snapshot"]
    other = os.path.join(w.root, "other")
    a.must("init", "--recovery-key-file", other + ".rk", repo=other)
    before = w.state()

    p = w.dev("phoenix")  # a blank machine: no COFFER_HOME yet
    expect(p, ("recover", "--recovery-key-file", other + ".rk", "--device-name", "phoenix"),
           12, "recover with another repository's recovery key")
    check(w.state() == before, "a wrong recovery key changed the chain or the key slots")
    expect(p, ("recover", "--device-name", "phoenix"), 2,
           "recover without a recovery key (a usage error)")
    p.must("recover", "--recovery-key-file", w.rk, "--device-name", "phoenix")
    devs = json.loads(p.must("--json", "devices", "list"))["devices"]
    me = [x for x in devs if x["self"]]
    check(len(me) == 1 and me[0]["name"] == "phoenix" and me[0]["role"] == "full"
          and me[0]["added_by"] == "recovery key" and not me[0]["removed"],
          "recovered device in the list: %r" % me)
    check(me[0]["id"] == p.id, "recovered device: listed id is not its key's")
    check(w.slot_path(p.id, 0) in [os.path.join(w.repo, "keys", s) for s in w.slots()] and
          w.slot_path(p.id, 1) in [os.path.join(w.repo, "keys", s) for s in w.slots()],
          "recovered device: want key slots of epochs 0 and 1")
    t1, t2 = os.path.join(w.root, "t1"), os.path.join(w.root, "t2")
    p.must("restore", hostile_id, "--target", t1)
    treecmp(hostile, restored(t1, hostile), "recovered device, snapshot of epoch 1")
    p.must("restore", old_id, "--target", t2)
    treecmp(src, restored(t2, src), "recovered device, snapshot of epoch 0")
    p.must("check", "--read-data")
    # the others see it, added by the recovery key
    devs = {x["id"]: x for x in json.loads(b.must("--json", "devices", "list"))["devices"]}
    check(devs[p.id]["added_by"] == "recovery key", "bob sees %r" % devs[p.id])
    # a second recover on the same machine is refused
    before = w.state()
    rc, _o, err = p.run("recover", "--recovery-key-file", w.rk)
    check(rc != 0 and "already" in err, "recover twice: exit %d: %r" % (rc, err))
    one_line_error(err, "recover twice")
    check(w.state() == before, "recover twice changed the chain")


def s11_bad_input(base, src):
    say("11: bad input: damaged device.key, wrong passphrase, malformed codes and ids")
    w = base.clone("s11")
    a, b = w.dev("alice"), w.dev("bob")
    with open(a.key, "rb") as f:
        good = f.read()
    before = w.state()
    # the prefix, the kdf byte, the name's length; truncated; extended: malformed (1).
    # A changed signing seed or box secret is simply another identity: not a member (12).
    for what, data, want in (
            ("magic", bytes([good[0] ^ 0x20]) + good[1:], 1),
            ("kind", good[:4] + bytes([good[4] ^ 1]) + good[5:], 1),
            ("version", good[:5] + b"\x02" + good[6:], 1),
            ("kdf", good[:8] + b"\x07" + good[9:], 1),
            ("signing seed", good[:12] + bytes([good[12] ^ 1]) + good[13:], 12),
            ("box secret", good[:50] + bytes([good[50] ^ 1]) + good[51:], 12),
            ("name length", good[:73] + b"\xff" + good[74:], 1),
            ("truncated to half", good[:len(good) // 2], 1),
            ("truncated to 8 bytes", good[:8], 1), ("empty", b"", 1),
            ("one byte more", good + b"\0", 1), ("text", b"hello\n", 1)):
        with open(a.key, "wb") as f:
            f.write(data)
        for args in (("snapshots",), ("backup", src)):
            expect(a, args, want, "device.key " + what)
    with open(a.key, "wb") as f:
        f.write(good)
    check(w.state() == before, "a damaged device.key changed the repository")
    expect(a, ("snapshots",), 0, "device.key restored")

    # a passphrase-protected device joins; then wrong, missing and absent passphrases
    pw = w.dev("pat")
    pw.extra_env["COFFER_PASSPHRASE_FILE"] = os.path.join(w.root, "pass")
    with open(os.path.join(w.root, "pass"), "w") as f:
        f.write("correct horse battery staple\n")
    with open(os.path.join(w.root, "wrongpass"), "w") as f:
        f.write("wrong horse battery staple\n")
    w.add("pat", a)
    expect(pw, ("snapshots",), 0, "passphrase device")
    pw.extra_env["COFFER_PASSPHRASE_FILE"] = os.path.join(w.root, "wrongpass")
    expect(pw, ("snapshots",), 12, "wrong passphrase", ["passphrase"])
    pw.extra_env["COFFER_PASSPHRASE_FILE"] = os.path.join(w.root, "no-such-file")
    rc, _o, err = pw.run("snapshots")
    check(rc not in (0, 12, 13), "missing passphrase file: exit %d" % rc)
    one_line_error(err, "missing passphrase file")
    del pw.extra_env["COFFER_PASSPHRASE_FILE"]
    rc, _o, err = pw.run("snapshots")
    check(rc != 0, "a locked device key opened without a passphrase")
    one_line_error(err, "no passphrase")

    # malformed pairing codes, device ids and names
    before = w.state()
    for code in ("", "garbage", "!!!!-????-####-$$$$", "ABCD", "A" * 300, "ÀÉÎÕ-ÜÇ",
                 "ABCD-EFGH-JKMN-PQRS-TVWX", "%s%n%s%n", "\x1b[31mred"):
        expect(a, ("devices", "approve", code, "--yes"), 1, "pairing code %r" % code[:20])
    for args in (("devices", "revoke", "xyz"), ("devices", "revoke", ""),
                 ("devices", "revoke", "0" * 64), ("devices", "revoke", "g" * 16),
                 ("devices", "revoke", b.id + "00"), ("devices", "revoke", a.id[:16]),
                 ("devices", "rename", b.id[:16], ""),
                 ("devices", "rename", b.id[:16], "x" * 65),
                 ("devices", "rename", b.id[:16], "tab\there"),
                 ("devices", "rename", "0" * 16, "name")):
        rc, _o, err = a.run(*args)
        check(rc in (1, 2), "%r: exit %d, want 1 or 2: %s" % (args, rc, err[:300]))
        one_line_error(err, repr(args))
    for args in (("devices", "join", "--role", "admin"), ("devices", "approve"),
                 ("devices", "frobnicate"), ("recover", "--recovery-key-file",
                                             os.path.join(w.root, "no-such-file"))):
        rc, _o, err = b.run(*args)
        check(rc in (1, 2), "%r: exit %d, want 1 or 2: %s" % (args, rc, err[:300]))
        one_line_error(err, repr(args))
    check(w.state() == before, "malformed input changed the chain or the key slots")


def main():
    global FORGE
    if not COFFER:
        die("COFFER_BIN is not set")
    if not FORGE:
        FORGE = os.path.join(os.path.dirname(COFFER), "tests", "cf_forge")
    if not os.access(FORGE, os.X_OK):
        die("cf_forge not found (set CF_FORGE): %s" % FORGE)
    start = time.time()
    tmp = tempfile.mkdtemp(prefix="cf_trust.")
    try:
        src = os.path.join(tmp, "src")
        make_src(src)
        hostile = os.path.join(tmp, "hostile")
        subprocess.run([sys.executable, os.path.join(LIB, "mkhostile.py"), hostile, "--seed",
                        "8", "--small"], check=True, capture_output=True)
        say("building a repository with two devices, and one where a third was revoked")
        base = base_world(tmp, src)
        rv = revoked_world(tmp, src, base)
        s1_foreign_signer(base, src)
        s2_broken_link(base, src)
        s3_copied_entry(base, src)
        s4_rotate(rv, src)
        s5_rollback_fork(rv, src)
        s6_snapshot_sequences(base, src)
        s7_revoked(rv, src)
        s7b_interrupted_revocation(base, src)
        s8_backup_only(base, src, hostile)
        s9_join_approve(base, src)
        s10_recover(rv, src, hostile)
        s11_bad_input(base, src)
        say("ok (%.1f s)" % (time.time() - start))
    finally:
        if not os.environ.get("KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
