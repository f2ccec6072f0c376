#!/usr/bin/python3
"""plainscan.py DIR MARKER...

Look for plaintext that must not be there: scan every regular file under DIR for each MARKER
(the bytes of the argument; "hex:6869" gives arbitrary bytes) and report each hit as
"MARKER found in FILE at OFFSET". A marker in an entry's name is reported as
"MARKER found in name FILE". Files are streamed in chunks that overlap by the longest
marker's length minus one, so any size works and no hit is reported twice. Symlinks are not
followed; directories are opened relative to their parent's descriptor, so paths longer than
PATH_MAX work.

Exit 1 if anything was found, 0 if not, 2 on a usage error or an unreadable entry.
"""

import os
import stat
import sys

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW
O_FILE = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
CHUNK = 4 << 20


def parse_marker(arg):
    if arg.startswith("hex:"):
        return bytes.fromhex(arg[4:])
    return os.fsencode(arg)


def show(b):
    """A path or marker for one line of output: printable as is, else Python's bytes repr."""
    try:
        s = b.decode("utf-8")
        if s.isprintable():
            return s
    except UnicodeDecodeError:
        pass
    return repr(b)


class Scanner:
    def __init__(self, markers):
        self.markers = markers
        self.overlap = max(len(m) for m in markers) - 1
        self.hits = 0
        self.errors = 0
        self.files = 0

    def hit(self, marker, what):
        print("%s found in %s" % (show(marker), what))
        self.hits += 1

    def error(self, path, e):
        print("plainscan: %s: %s" % (show(path), e.strerror), file=sys.stderr)
        self.errors += 1

    def scan_fd(self, fd, path):
        tail = b""
        base = 0  # file offset of buf[0]
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            buf = tail + chunk
            for m in self.markers:
                i = buf.find(m)
                while i >= 0:
                    # A hit that fits in the tail was already reported with the last chunk.
                    if i + len(m) > len(tail):
                        self.hit(m, "%s at %d" % (show(path), base + i))
                    i = buf.find(m, i + 1)
            keep = min(self.overlap, len(buf))
            tail = buf[len(buf) - keep:] if keep else b""
            base += len(buf) - len(tail)
        self.files += 1

    def scan_dir(self, dfd, path):
        try:
            names = sorted(os.fsencode(n) for n in os.listdir(dfd))
        except OSError as e:
            self.error(path, e)
            return
        for name in names:
            child = os.path.join(path, name)
            for m in self.markers:
                if m in name:
                    self.hit(m, "name %s" % show(child))
            try:
                self.scan_entry(dfd, name, child)
            except OSError as e:
                self.error(child, e)

    def scan_entry(self, dfd, name, child):
        st = os.lstat(name, dir_fd=dfd)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(name, O_DIR, dir_fd=dfd)
            try:
                self.scan_dir(fd, child)
            finally:
                os.close(fd)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, O_FILE, dir_fd=dfd)
            try:
                self.scan_fd(fd, child)
            finally:
                os.close(fd)


def main():
    if len(sys.argv) < 3:
        print("usage: plainscan.py DIR MARKER...", file=sys.stderr)
        return 2
    root = os.fsencode(sys.argv[1])
    try:
        markers = [parse_marker(a) for a in sys.argv[2:]]
    except ValueError:
        print("plainscan: bad hex marker", file=sys.stderr)
        return 2
    if any(len(m) == 0 for m in markers):
        print("plainscan: empty marker", file=sys.stderr)
        return 2
    sc = Scanner(markers)
    # Recursion depth follows the tree's depth; raise the limit for very deep trees.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    try:
        st = os.stat(root)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(root, O_DIR & ~os.O_NOFOLLOW)
            try:
                sc.scan_dir(fd, root)
            finally:
                os.close(fd)
        else:
            fd = os.open(root, O_FILE & ~os.O_NOFOLLOW)
            try:
                sc.scan_fd(fd, root)
            finally:
                os.close(fd)
    except OSError as e:
        sc.error(root, e)
    if sc.hits:
        return 1
    return 2 if sc.errors else 0


if __name__ == "__main__":
    sys.exit(main())
