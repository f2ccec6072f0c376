#!/usr/bin/python3
"""treecmp.py A B [--ignore-atime] [--no-owner] [--ignore-sockets] [--ignore-root]
                  [--exclude RELPATH]...

Compare two trees entry by entry, as a restore must reproduce a backup: the same names
(bytes), and per entry the type, full st_mode, uid/gid, size, mtime in nanoseconds, atime
(except of directories and symlinks; none with --ignore-atime), content (SHA-256), symlink
target, xattrs (user.* only unless run as root), rdev of devices, sparseness (a file that
uses less than half its size on disk in A must do so in B too) and hard-link structure (names
sharing an inode in A share one in B, and the reverse). Directory mtimes are compared too;
directory sizes are not (they depend on the filesystem's history). The roots themselves are
compared as '.' unless --ignore-root.

Nothing is followed: symlinks are read with readlink, never opened. Directories are opened
relative to their parent's descriptor, so paths longer than PATH_MAX work.

Each difference is printed as one line "PATH: what differs" with PATH in Python's repr of
the bytes; exit 1 if there is any. Otherwise prints "identical: N entries" and exits 0.
Exit 2: usage error or a root that cannot be opened.
"""

import argparse
import errno
import hashlib
import os
import stat
import sys

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
O_FILE = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
O_NOATIME = getattr(os, "O_NOATIME", 0)
CHUNK = 1 << 20
SHORT_PATH = 3000  # below this, open a directory by its path; above, component by component
IS_ROOT = os.geteuid() == 0

TYPES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
}


def type_name(mode):
    return TYPES.get(stat.S_IFMT(mode), "type %o" % stat.S_IFMT(mode))


def fmt_ns(ns):
    sign = "-" if ns < 0 else ""
    s, frac = divmod(abs(ns), 1_000_000_000)
    return "%s%d.%09d" % (sign, s, frac)


class Tree:
    """Every entry of one tree: {relpath: record}, relpath bytes, the root being b'.'."""

    def __init__(self, root, label):
        self.root = root
        self.label = label
        self.entries = {}
        self.errors = []  # (relpath, message)
        self.root_fd = os.open(root, O_DIR & ~os.O_NOFOLLOW)

    def close(self):
        os.close(self.root_fd)

    def open_dir(self, rel):
        if rel == b".":
            return os.dup(self.root_fd)
        if len(self.root) + len(rel) < SHORT_PATH:
            return os.open(os.path.join(self.root, rel), O_DIR)
        fd = os.dup(self.root_fd)
        try:
            for comp in rel.split(b"/"):
                nfd = os.open(comp, O_DIR, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except OSError:
            os.close(fd)
            raise
        return fd

    def scan(self):
        st = os.fstat(self.root_fd)
        self.entries[b"."] = self.record(None, None, st)
        stack = [b"."]
        while stack:
            rel = stack.pop()
            try:
                dfd = self.open_dir(rel)
            except OSError as e:
                self.errors.append((rel, "cannot open directory in %s: %s" % (self.label, e.strerror)))
                continue
            try:
                stack.extend(self.scan_dir(dfd, rel))
            finally:
                os.close(dfd)

    def scan_dir(self, dfd, rel):
        subdirs = []
        try:
            names = sorted(os.fsencode(n) for n in os.listdir(dfd))
        except OSError as e:
            self.errors.append((rel, "cannot list in %s: %s" % (self.label, e.strerror)))
            return subdirs
        for name in names:
            child = name if rel == b"." else rel + b"/" + name
            try:
                st = os.lstat(name, dir_fd=dfd)
                self.entries[child] = self.record(dfd, name, st)
            except OSError as e:
                self.errors.append((child, "cannot read in %s: %s" % (self.label, e.strerror)))
                continue
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(child)
        return subdirs

    def record(self, dfd, name, st):
        """The comparable facts of one entry. The stat is taken before any read (atime)."""
        mode = st.st_mode
        r = {
            "mode": mode, "uid": st.st_uid, "gid": st.st_gid,
            "mtime": st.st_mtime_ns, "atime": st.st_atime_ns,
            "ino": None if stat.S_ISDIR(mode) else (st.st_dev, st.st_ino),
        }
        if stat.S_ISREG(mode) or stat.S_ISLNK(mode):
            r["size"] = st.st_size
        if stat.S_ISREG(mode):
            r["sparse"] = st.st_size > 0 and st.st_blocks * 512 < st.st_size // 2
            r["hash"] = self.hash_file(dfd, name)
        if stat.S_ISLNK(mode):
            r["target"] = os.readlink(name, dir_fd=dfd)
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            r["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
        r["xattrs"] = self.xattrs(dfd, name)
        return r

    def hash_file(self, dfd, name):
        h = hashlib.sha256()
        if dfd is None:
            fd = os.open(self.root, O_FILE)
        else:
            try:
                fd = os.open(name, O_FILE | O_NOATIME, dir_fd=dfd)
            except PermissionError:
                fd = os.open(name, O_FILE, dir_fd=dfd)  # O_NOATIME needs ownership
        try:
            while True:
                b = os.read(fd, CHUNK)
                if not b:
                    break
                h.update(b)
        finally:
            os.close(fd)
        return h.hexdigest()

    def xattrs(self, dfd, name):
        # No dir_fd form of the xattr calls: /proc/self/fd/N/NAME is a short path to the same
        # entry, and follow_symlinks=False keeps the last component unfollowed.
        path = self.root if dfd is None else b"/proc/self/fd/%d/%s" % (dfd, name)
        try:
            keys = os.listxattr(path, follow_symlinks=False)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                return {}
            raise
        out = {}
        for k in sorted(keys):
            if not IS_ROOT and not k.startswith("user."):
                continue
            try:
                out[k] = os.getxattr(path, k, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
        return out


class Compare:
    def __init__(self, a, b, opts):
        self.a = a
        self.b = b
        self.opts = opts
        self.lines = []

    def diff(self, path, what):
        self.lines.append("%r: %s" % (path, what))

    def field(self, path, ra, rb, key, show=str):
        va = ra.get(key)
        vb = rb.get(key)
        if va != vb:
            self.diff(path, "%s differs: %s vs %s" % (key, show(va), show(vb)))

    def entry(self, path, ra, rb):
        if stat.S_IFMT(ra["mode"]) != stat.S_IFMT(rb["mode"]):
            self.diff(path, "type differs: %s vs %s" % (type_name(ra["mode"]), type_name(rb["mode"])))
            return
        self.field(path, ra, rb, "mode", lambda m: "%o" % m)
        if not self.opts.no_owner:
            self.field(path, ra, rb, "uid")
            self.field(path, ra, rb, "gid")
        for key in ("size", "target", "rdev"):
            self.field(path, ra, rb, key)
        if ra.get("hash") != rb.get("hash"):
            self.diff(path, "content differs")
        self.field(path, ra, rb, "mtime", fmt_ns)
        # Listing a directory or reading a symlink updates its atime, and no reader (this one
        # included) can avoid that: atimes of those would not even match a tree with itself.
        # Files are read with O_NOATIME, so theirs stay put.
        kind = stat.S_IFMT(ra["mode"])
        if not self.opts.ignore_atime and kind not in (stat.S_IFDIR, stat.S_IFLNK):
            self.field(path, ra, rb, "atime", fmt_ns)
        if ra.get("sparse") and not rb.get("sparse"):
            self.diff(path, "sparse in A, not in B")
        self.xattrs(path, ra["xattrs"], rb["xattrs"])

    def xattrs(self, path, xa, xb):
        for k in sorted(set(xa) | set(xb)):
            if k not in xb:
                self.diff(path, "xattr %s only in A" % k)
            elif k not in xa:
                self.diff(path, "xattr %s only in B" % k)
            elif xa[k] != xb[k]:
                self.diff(path, "xattr %s differs: %r vs %r" % (k, xa[k], xb[k]))

    def hardlinks(self, common):
        """Names that share an inode in one tree must share one in the other."""
        ga = groups(self.a.entries, common)
        gb = groups(self.b.entries, common)
        seen = set()
        for path in sorted(common):
            ka = ga.get(path, frozenset([path]))
            kb = gb.get(path, frozenset([path]))
            if ka != kb and (ka, kb) not in seen:
                seen.add((ka, kb))
                self.diff(path, "hard links differ: A %s vs B %s" % (sorted(ka), sorted(kb)))

    def run(self):
        ea = self.a.entries
        eb = self.b.entries
        for path in sorted(set(ea) - set(eb)):
            self.diff(path, "only in A")
        for path in sorted(set(eb) - set(ea)):
            self.diff(path, "only in B")
        common = set(ea) & set(eb)
        for path in sorted(common):
            self.entry(path, ea[path], eb[path])
        self.hardlinks(common)
        for path, msg in self.a.errors + self.b.errors:
            if not excluded(path, self.opts, None):
                self.diff(path, msg)
        return len(common)


def groups(entries, common):
    """{path: frozenset of the compared paths sharing its inode}, for inodes with 2+ names."""
    by_ino = {}
    for path in common:
        ino = entries[path]["ino"]
        if ino is not None:
            by_ino.setdefault(ino, []).append(path)
    out = {}
    for paths in by_ino.values():
        if len(paths) > 1:
            g = frozenset(paths)
            for p in paths:
                out[p] = g
    return out


def excluded(path, opts, rec):
    if rec is not None and opts.ignore_sockets and stat.S_ISSOCK(rec["mode"]):
        return True
    if opts.ignore_root and path == b".":
        return True
    for ex in opts.exclude:
        if path == ex or path.startswith(ex + b"/"):
            return True
    return False


def main():
    ap = argparse.ArgumentParser(description="compare two trees entry by entry")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--ignore-atime", action="store_true")
    ap.add_argument("--no-owner", action="store_true")
    ap.add_argument("--ignore-sockets", action="store_true",
                    help="leave sockets out on both sides (a backup skips them)")
    ap.add_argument("--ignore-root", action="store_true",
                    help="do not compare the attributes of the two roots")
    ap.add_argument("--exclude", action="append", default=[],
                    help="a path relative to the roots to leave out, with what is below it")
    opts = ap.parse_args()
    opts.exclude = [os.fsencode(e).rstrip(b"/") for e in opts.exclude]
    trees = []
    try:
        for root, label in ((opts.a, "A"), (opts.b, "B")):
            t = Tree(os.fsencode(root), label)
            trees.append(t)
            t.scan()
    except OSError as e:
        print("treecmp: %s" % e, file=sys.stderr)
        return 2
    finally:
        for t in trees:
            t.close()
    for t in trees:
        t.entries = {p: r for p, r in t.entries.items() if not excluded(p, opts, r)}
    cmp = Compare(trees[0], trees[1], opts)
    n = cmp.run()
    if cmp.lines:
        sys.stdout.write("\n".join(cmp.lines) + "\n")
        return 1
    print("identical: %d entries" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
