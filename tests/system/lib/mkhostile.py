#!/usr/bin/python3
"""mkhostile.py DIR [--seed N] [--small] [--verbose]

Build a tree that is hard to back up and restore faithfully: odd file types, modes, owners,
times, names, extended attributes, hard links, sparse files, paths longer than PATH_MAX.
Everything is made with bytes paths and, below the deep directory, relative to directory
descriptors, so no call ever sees a path longer than PATH_MAX.

Root-only parts (device nodes, foreign owners, the mode 0000 file and directory, which no
one else could read back) are skipped when not root; xattrs are skipped
when the filesystem refuses them. Content is a function of --seed, so two runs with the same
seed give the same bytes (times that are not set explicitly are the creation time).

--small makes the big files small for quick tests: 64 KiB random, 256 KiB repeated, and a
16 MiB sparse file (with the same data at 0, at 10 MiB and at the end).
Prints nothing unless --verbose; exit 0, or 2 on a usage or system error.
"""

import argparse
import os
import random
import socket
import stat
import sys

MIB = 1 << 20
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW

# Times with nanoseconds, one before 1970 and one in 2100 (all in ns since the epoch).
T_NANOS = 1_600_000_000_123_456_789
T_PRE1970 = -100_000_000_123_456_789  # 1966-10-31, with a nanosecond part
T_FUTURE = 4_102_444_800_000_000_001  # 2100-01-01 00:00:00.000000001
T_DIR = 1_500_000_000_999_999_999
T_LINK = 1_234_567_890_000_000_042

IS_ROOT = os.geteuid() == 0


class Builder:
    def __init__(self, root, rng, small, verbose):
        self.root = root
        self.rng = rng
        self.small = small
        self.verbose = verbose
        self.times = []  # (path, ns, follow) set at the end, files before directories
        self.dir_times = []  # (path, ns) set last, deepest first
        self.skipped = []

    def note(self, msg):
        if self.verbose:
            print(msg)

    def p(self, *parts):
        return os.path.join(self.root, *parts)

    def mkdir(self, *parts, mode=0o755):
        path = self.p(*parts)
        os.mkdir(path, mode)
        return path

    def write(self, path, data, mode=0o644):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
        os.chmod(path, mode)  # the umask must not decide

    def regular_files(self):
        self.mkdir(b"files")
        self.write(self.p(b"files", b"empty"), b"")
        self.write(self.p(b"files", b"small.txt"), b"hello, hostile world\n")
        size = 64 * 1024 if self.small else 3 * MIB
        self.write(self.p(b"files", b"random.bin"), self.rng.randbytes(size))
        block = self.rng.randbytes(64 * 1024 if self.small else MIB)
        fd = os.open(self.p(b"files", b"repeated.bin"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for _ in range(4 if self.small else 20):
                os.write(fd, block)
        finally:
            os.close(fd)
        self.sparse(self.p(b"files", b"sparse.bin"))

    def sparse(self, path):
        """64 MiB (16 with --small) with data at 0, at 10 MiB and at the end; holes between."""
        size = (16 if self.small else 64) * MIB
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"start of sparse file\n" + self.rng.randbytes(4000))
            os.lseek(fd, 10 * MIB, os.SEEK_SET)
            os.write(fd, b"middle\n" + self.rng.randbytes(5000))
            tail = b"\nend of sparse file"
            os.lseek(fd, size - len(tail), os.SEEK_SET)
            os.write(fd, tail)
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    def deep(self):
        """Directories nested so the full path is over PATH_MAX (4096), made by dir_fd."""
        self.mkdir(b"deep")
        fd = os.open(self.p(b"deep"), O_DIR)
        try:
            for level in range(20):
                name = (b"%02d-" % level) + b"d" * 240
                os.mkdir(name, 0o755, dir_fd=fd)
                nfd = os.open(name, O_DIR, dir_fd=fd)
                os.close(fd)
                fd = nfd
            wfd = os.open(b"bottom.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, dir_fd=fd)
            os.write(wfd, b"at the bottom, past PATH_MAX\n")
            os.fchmod(wfd, 0o640)
            os.close(wfd)
            os.symlink(b"bottom.txt", b"bottom-link", dir_fd=fd)
            os.link(b"bottom.txt", b"bottom-hardlink", src_dir_fd=fd, dst_dir_fd=fd,
                    follow_symlinks=False)
            os.utime(b"bottom.txt", ns=(T_NANOS, T_NANOS), dir_fd=fd)
            try:
                os.setxattr(b"/proc/self/fd/%d/bottom.txt" % fd, b"user.deep", b"\x00deep\xff")
            except OSError:
                pass
        finally:
            os.close(fd)

    def symlinks(self):
        self.mkdir(b"links")
        links = {
            b"relative": b"../files/small.txt",
            b"absolute": b"/etc/passwd",
            b"dangling": b"does-not-exist",
            b"absolute-dangling": b"/nonexistent/coffer/target",
            b"outside": b"../../../../../../../../../../etc/hostname",
            b"to-dir": b"../files",
            b"self-loop": b"self-loop",
            b"weird-target": b"tab\there\nnewline\xff",
        }
        for name, target in links.items():
            os.symlink(target, self.p(b"links", name))
        self.times.append((self.p(b"links", b"relative"), T_LINK, False))

    def hardlinks(self):
        self.mkdir(b"hard")
        self.mkdir(b"hard", b"sub")
        first = self.p(b"hard", b"one")
        self.write(first, b"three names, one inode\n" + self.rng.randbytes(1000))
        os.link(first, self.p(b"hard", b"sub", b"two"))
        os.link(first, self.p(b"files", b"three-hardlink"))
        # A second group of two, with an odd mode, to tell groups apart.
        other = self.p(b"hard", b"pair-a")
        self.write(other, b"two names\n", mode=0o600)
        os.link(other, self.p(b"hard", b"sub", b"pair-b"))

    def specials(self):
        self.mkdir(b"special")
        os.mkfifo(self.p(b"special", b"fifo"), 0o640)
        os.chmod(self.p(b"special", b"fifo"), 0o640)
        if IS_ROOT:
            for name, kind, dev in ((b"null", stat.S_IFCHR, os.makedev(1, 3)),
                                    (b"loop", stat.S_IFBLK, os.makedev(7, 200))):
                try:
                    os.mknod(self.p(b"special", name), kind | 0o600, dev)
                except OSError as e:
                    self.skipped.append("device %r: %s" % (name, e))
        else:
            self.skipped.append("devices: not root")
        self.socket()

    def socket(self):
        """A bound unix socket left behind; bound by a short relative name via fchdir."""
        cwd = os.open(".", O_DIR)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.chdir(self.p(b"special"))
            sock.bind(b"socket")
        finally:
            sock.close()
            os.fchdir(cwd)
            os.close(cwd)

    def modes(self):
        self.mkdir(b"modes")
        files = [(b"setuid", 0o4755), (b"setgid", 0o2755), (b"all", 0o777),
                 (b"setuid-setgid-sticky", 0o7777)]
        if IS_ROOT:
            files.append((b"zero", 0o000))  # anyone else could not read it back
        else:
            self.skipped.append("mode 0000 file and directory: not root")
        for name, mode in files:
            self.write(self.p(b"modes", name), b"mode %o\n" % mode, mode=mode)
        dirs = [(b"sticky-dir", 0o1777), (b"open-dir", 0o777), (b"setgid-dir", 0o2755)]
        if IS_ROOT:
            dirs.append((b"closed-dir", 0o000))  # anyone else could not even list it
        for name, mode in dirs:
            path = self.mkdir(b"modes", name)
            if name != b"closed-dir":
                self.write(os.path.join(path, b"inside"), b"x")
            os.chmod(path, mode)

    def owners(self):
        if not IS_ROOT:
            self.skipped.append("owners: not root")
            return
        self.mkdir(b"owners")
        path = self.p(b"owners", b"other-owner")
        self.write(path, b"owned by 1234:5678\n")
        os.lchown(path, 1234, 5678)
        link = self.p(b"owners", b"other-owner-link")
        os.symlink(b"other-owner", link)
        os.lchown(link, 4321, 8765)
        d = self.mkdir(b"owners", b"other-owner-dir")
        os.lchown(d, 65534, 65534)
        # chown clears setuid: set it again after, as a restore must do in that order too.
        sgid = self.p(b"owners", b"setgid-other-group")
        self.write(sgid, b"x", mode=0o2750)
        os.lchown(sgid, 0, 4242)
        os.chmod(sgid, 0o2750)

    def times_(self):
        self.mkdir(b"times")
        for name, ns in ((b"nanos", T_NANOS), (b"pre-1970", T_PRE1970), (b"year-2100", T_FUTURE)):
            path = self.p(b"times", name)
            self.write(path, name + b"\n")
            self.times.append((path, ns, True))
        link = self.p(b"times", b"link-with-time")
        os.symlink(b"nanos", link)
        self.times.append((link, T_LINK, False))
        d = self.mkdir(b"times", b"dir-with-time")
        self.write(os.path.join(d, b"f"), b"f")
        self.dir_times.append((d, T_DIR))
        self.dir_times.append((self.p(b"times"), T_PRE1970))

    def xattrs(self):
        self.mkdir(b"xattr")
        path = self.p(b"xattr", b"file")
        self.write(path, b"has xattrs\n")
        d = self.mkdir(b"xattr", b"dir")
        attrs = ((path, b"user.binary", bytes(range(256))),
                 (path, b"user.empty", b""),
                 (path, b"user.text", b"plain text value"),
                 (d, b"user.on-dir", b"\x00\x01\x02"))
        for target, key, value in attrs:
            try:
                os.setxattr(target, key, value, follow_symlinks=False)
            except OSError as e:
                self.skipped.append("xattr %r: %s" % (key, e))
                return

    def names(self):
        self.mkdir(b"names")
        names = [
            b"new\nline",
            b"tab\there",
            b"invalid-utf8-\xff\xfe\xc3(",
            b"n" * 255,
            b"-leading-dash",
            b"--",
            b" spaces  inside and trailing ",
            "unicode-\u00fcn\u00efc\u00f8d\u00e9-\u65e5\u672c\u8a9e-\U0001f389".encode(),
            b"glob*?[x]",
            b"back\\slash",
            b"quote'\"",
            b"percent%s%n",
            b"ctrl-\x01\x1b[31m-\x7f",
        ]
        for i, name in enumerate(names):
            self.write(self.p(b"names", name), b"name %d\n" % i)
        self.mkdir(b"names", b"dir\nwith newline")
        self.write(self.p(b"names", b"dir\nwith newline", b"\xff"), b"x")

    def many(self):
        self.mkdir(b"empty-dir")
        self.mkdir(b"many")
        for i in range(2000):
            self.write(self.p(b"many", b"f%04d" % i), b"file %d %d\n" % (i, self.rng.getrandbits(32)))

    def apply_times(self):
        for path, ns, follow in self.times:
            os.utime(path, ns=(ns, ns), follow_symlinks=follow)
        for path, ns in sorted(self.dir_times, key=lambda t: -len(t[0])):
            os.utime(path, ns=(ns, ns))

    def build(self):
        self.regular_files()
        self.deep()
        self.symlinks()
        self.hardlinks()
        self.specials()
        self.modes()
        self.owners()
        self.times_()
        self.xattrs()
        self.names()
        self.many()
        self.apply_times()
        for s in self.skipped:
            self.note("skipped: " + s)


def main():
    ap = argparse.ArgumentParser(description="build a hostile tree for backup tests")
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="small big files, for quick tests")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    root = os.fsencode(args.dir)
    try:
        os.makedirs(root, exist_ok=True)
        if os.listdir(root):
            print("mkhostile: %r is not empty" % args.dir, file=sys.stderr)
            return 2
        Builder(root, random.Random(args.seed), args.small, args.verbose).build()
    except OSError as e:
        print("mkhostile: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
