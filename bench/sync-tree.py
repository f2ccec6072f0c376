#!/usr/bin/env python3
"""sync-tree.py SRC DST - make the tree DST identical to SRC with as few changes as possible.

Files that differ from SRC (type, size, mode or mtime) are copied again, files and
directories SRC lacks are removed, the rest is left alone. bench/run.sh resets its working
copy of the dataset this way between runs instead of deleting and copying all 20,000 files:
on ext4, creating files soon after deleting many makes the inode allocator skip every
recently deleted inode (recently_deleted() in fs/ext4/ialloc.c), so whichever tool creates
files next (a restore) would pay for the deletions.
"""

import os
import shutil
import stat
import sys


def same(a, b):
    return (stat.S_IFMT(a.st_mode) == stat.S_IFMT(b.st_mode) and a.st_size == b.st_size
            and a.st_mode == b.st_mode and a.st_mtime_ns == b.st_mtime_ns)


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def sync(src, dst):
    os.makedirs(dst, exist_ok=True)
    names = set(os.listdir(src))
    for name in os.listdir(dst):
        if name not in names:
            remove(os.path.join(dst, name))
    for name in sorted(names):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        try:
            dt = os.lstat(d)
        except FileNotFoundError:
            dt = None
        if stat.S_ISDIR(st.st_mode):
            if dt is not None and not stat.S_ISDIR(dt.st_mode):
                remove(d)
            sync(s, d)
            shutil.copystat(s, d)
        elif dt is None or not same(st, dt):
            if dt is not None:
                remove(d)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(s), d)
            else:
                shutil.copy2(s, d)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sync-tree.py SRC DST")
    sync(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
