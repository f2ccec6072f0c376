#!/usr/bin/env python3
"""gen-dataset.py - seeded, deterministic home-directory-like corpus for bench/run.sh.

  gen-dataset.py v1 DIR [--seed N] [--size BYTES]
      Create DIR (must not exist, or be empty) holding about BYTES (default 1 GiB):
        ~60%  compressible text: markdown/plain prose, C and Python source, logs, CSV;
              three large files of tens of MiB (a mail archive, an application log, a
              data export) and many 32 KiB-4 MiB documents;
        ~30%  incompressible "media": 3 videos of 72-96 MiB, about a dozen 2.5-6 MiB photos;
        ~10%  20,000 small files of 1-16 KiB (70% text, 30% random) in nested directories.
      --size scales every file size and the small-file count (64M gives a quick corpus).

  gen-dataset.py mutate DIR [--seed N]
      Turn a v1 tree into v2 in place: insert 1-4096 bytes in the middle of four of the
      five largest files and of six medium text files (rewriting them), overwrite or
      append to more small files until 2% of all files changed, add 1% new files (some in
      new directories), delete 1%. Unchanged files keep their inode and mtime.

The same seed and size give a byte-identical tree, mtimes included: every byte comes from
random.Random(seed-derived) streams and every file list is sorted before it is used.
Sizes accept k/M/G suffixes (binary).
"""

import argparse
import itertools
import math
import os
import random
import sys
import time

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
T_V1 = 1700000000  # 2023-11-14, v1 mtimes count up from here
T_V2 = 1710000000  # 2024-03-09, changed in v2

# Short, common English words keep prose Zipf-like; the rest of the vocabulary is made up
# of seeded syllable combinations.
COMMON = (
    "the of and to a in is that for it with as on was be by this are or from at not "
    "have an but which they we you all one can more has were their been there will "
    "also would if when what so about into than some its other only new time these "
    "may after over such first two most any where between then each our while under "
    "through both because before those during without however again against each"
).split()
ONSETS = "b c d f g h k l m n p r s t v w br ch cr dr fl gr pl pr sh st th tr".split()
NUCLEI = "a e i o u ai ea ee ie oa ou".split()
CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "ng", "st", "ck", "rt", "m"]


def parse_size(s):
    mult = {"k": KiB, "m": MiB, "g": GiB, "t": 1 << 40}
    s = s.strip()
    if s and s[-1].lower() in mult:
        return int(float(s[:-1]) * mult[s[-1].lower()])
    return int(s)


def loguniform(rng, lo, hi):
    return int(lo * math.exp(rng.random() * math.log(hi / lo)))


class Text:
    """Pools of words, phrases and source lines, built once per seed; files are drawn
    from them with rng.choices, which keeps generation far from per-byte Python."""

    def __init__(self, seed):
        rng = random.Random(seed * 7 + 11)
        vocab = set()
        while len(vocab) < 30000:
            k = rng.choice((1, 1, 2, 2, 2, 3))
            vocab.add("".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)
                              for _ in range(k)))
        vocab = sorted(vocab)
        rng.shuffle(vocab)
        self.words = COMMON + vocab
        self.wcum = list(itertools.accumulate(1.0 / (i + 1.5) ** 1.1 for i in range(len(self.words))))
        self.idents = [w for w in vocab[:6000] if len(w) < 14]
        self.icum = list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(self.idents))))
        self.phrases = self._phrases(rng, 50000)
        self.c_lines = [self._c_line(rng) for _ in range(60000)]
        self.py_lines = [self._py_line(rng) for _ in range(40000)]
        self.log_msgs = [" ".join(self.pick_words(rng, rng.randint(3, 10))) for _ in range(8000)]
        self.components = ["auth", "sync", "http", "db", "cache", "sched", "mail", "ui"] + \
            rng.sample(self.idents[:500], 24)
        self.cells = ([str(rng.randint(0, 9999)) for _ in range(3000)] +
                      [f"{rng.uniform(0, 100):.2f}" for _ in range(3000)] +
                      self.idents[:400] + ["", "0", "1", "true", "false", "NA"] * 200)

    def pick_words(self, rng, k):
        return rng.choices(self.words, cum_weights=self.wcum, k=k)

    def pick_ids(self, rng, k):
        return rng.choices(self.idents, cum_weights=self.icum, k=k)

    def _phrases(self, rng, n):
        sizes = rng.choices((2, 3, 3, 4, 4, 5, 6, 7), k=n)
        words = self.pick_words(rng, sum(sizes))
        out, i = [], 0
        for s in sizes:
            out.append(" ".join(words[i:i + s]))
            i += s
        return out

    def _c_line(self, rng):
        a, b, c, d = self.pick_ids(rng, 4)
        ind = "\t" * rng.choice((0, 1, 1, 1, 2, 2, 3))
        t = rng.randrange(12)
        forms = (
            f"{a} = {b}({c}, {d});",
            f"if ({a}->{b} != NULL && {c} < {rng.randint(0, 512)}) {{",
            "}",
            f"return {a}_{b}({c});",
            f"static int {a}_{b}(struct {c} *{d}, size_t len)",
            f"/* {' '.join(self.pick_words(rng, rng.randint(3, 9)))} */",
            f"for (size_t i = 0; i < {a}->{b}; i++)",
            f"#include \"{a}/{b}.h\"",
            f"{a}[{b}] = {c} {rng.choice('+-*|&^')} 0x{rng.getrandbits(16):x};",
            "",
            f"uint64_t {a} = {b}.{c};",
            f"#define {a.upper()}_{b.upper()} {rng.randint(1, 1 << 16)}",
        )
        return ind + forms[t] if forms[t] else ""

    def _py_line(self, rng):
        a, b, c = self.pick_ids(rng, 3)
        ind = "    " * rng.choice((0, 1, 1, 2, 2, 3))
        forms = (
            f"def {a}_{b}(self, {c}):",
            f"{a} = self.{b}({c})",
            f"return [{a} for {a} in {b} if {a}.{c}]",
            f"# {' '.join(self.pick_words(rng, rng.randint(3, 9)))}",
            f"if {a} is None or {b} > {rng.randint(0, 100)}:",
            f"import {a}.{b}",
            "",
            f"raise {a.capitalize()}Error(\"{' '.join(self.pick_words(rng, 4))}\")",
        )
        line = forms[rng.randrange(len(forms))]
        return ind + line if line else ""

    # ---- whole files ----
    PROSE_SEPS = (" ", ", ", ". ", ".\n", ".\n\n", "; ", "? ", ":\n- ", "\n\n## ", "\n")
    PROSE_W = (50, 10, 14, 8, 4, 2, 1, 1, 0.3, 6)

    def prose(self, rng, size):
        """Phrases joined by punctuation. Each 64 KiB stretch draws from a 2,000-phrase
        slice of the pool (its "topic"), so words recur nearby as in real documents:
        about 3x with zstd -1 and 1.8x with lz4."""
        parts, n = [], 0
        while n < size:
            k = min(2400, max(8, (size - n) // 28))
            o = rng.randrange(len(self.phrases) - 2000)
            ph = rng.choices(self.phrases[o:o + 2000], k=k)
            sp = rng.choices(self.PROSE_SEPS, weights=self.PROSE_W, k=k)
            s = "".join(itertools.chain.from_iterable(zip(ph, sp)))
            parts.append(s)
            n += len(s)
        return "".join(parts).encode()[:size]

    def code(self, rng, size, py=False):
        pool = self.py_lines if py else self.c_lines
        parts, n = [], 0
        while n < size:
            s = "\n".join(rng.choices(pool, k=max(8, (size - n) // 24))) + "\n"
            parts.append(s)
            n += len(s)
        return "".join(parts).encode()[:size]

    def log(self, rng, size):
        parts, n = [], 0
        t = rng.randrange(10 ** 9)
        levels = ("INFO",) * 10 + ("DEBUG",) * 5 + ("WARN", "WARN", "ERROR")
        while n < size:
            k = max(8, (size - n) // 90)
            msgs = rng.choices(self.log_msgs, k=k)
            comps = rng.choices(self.components, k=k)
            lvls = rng.choices(levels, k=k)
            steps = rng.choices(range(0, 4000), k=k)
            lines = []
            for m, c, lv, dt in zip(msgs, comps, lvls, steps):
                t += dt
                s, ms = divmod(t, 1000)
                lines.append(f"2024-{1 + s // 2419200 % 12:02d}-{1 + s // 86400 % 28:02d} "
                             f"{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ms:03d} "
                             f"{lv} [{c}] {m} req={t & 0xffffff:06x}\n")
            s = "".join(lines)
            parts.append(s)
            n += len(s)
        return "".join(parts).encode()[:size]

    def csv(self, rng, size):
        """Rows of cells; each column draws from its own small slice of the cell pool,
        as real exports repeat categories, flags and similar numbers."""
        cols = rng.randint(4, 12)
        pools = []
        for _ in range(cols):
            w = rng.choice((4, 30, 300, 2000))
            o = rng.randrange(len(self.cells) - w)
            pools.append(self.cells[o:o + w])
        header = ",".join(self.pick_ids(rng, cols)) + "\n"
        parts, n = [header], len(header)
        while n < size:
            rows = max(4, (size - n) // (6 * cols))
            columns = [rng.choices(pl, k=rows) for pl in pools]
            s = "".join(",".join(r) + "\n" for r in zip(*columns))
            parts.append(s)
            n += len(s)
        return "".join(parts).encode()[:size]

    def of_kind(self, kind, rng, size):
        if kind in ("md", "txt", "eml"):
            return self.prose(rng, size)
        if kind in ("c", "h"):
            return self.code(rng, size)
        if kind == "py":
            return self.code(rng, size, py=True)
        if kind == "log":
            return self.log(rng, size)
        return self.csv(rng, size)


KINDS = ("md", "md", "txt", "c", "c", "h", "py", "py", "log", "csv")


class Writer:
    def __init__(self, root):
        self.root = root
        self.mtime = itertools.count(T_V1)
        self.stats = {"text": 0, "random": 0, "small": 0, "files": 0}
        self.created = []

    def put(self, rel, data, cls, mtime=None):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            if isinstance(data, (bytes, bytearray)):
                f.write(data)
            else:
                for block in data:
                    f.write(block)
        t = next(self.mtime) if mtime is None else mtime
        os.utime(path, (t, t))
        self.created.append(path)
        size = os.path.getsize(path)
        self.stats[cls] += size
        self.stats["files"] += 1
        return size


def random_blocks(rng, size, block=16 * MiB):
    while size > 0:
        n = min(block, size)
        yield rng.randbytes(n)
        size -= n


def small_dirs(rng, tx, count):
    tops = ("src", "src", "projects", ".config", ".cache/thumbnails", ".local/share",
            "notes", "Documents/misc")
    dirs = set()
    while len(dirs) < max(4, count // 28):
        depth = rng.randint(1, 4)
        dirs.add("/".join([rng.choice(tops)] + tx.pick_ids(rng, depth)))
    return sorted(dirs)


def make_small(w, tx, rng, rel):
    """One 1-16 KiB file; thumbnails and 1 in 6 others are random bytes."""
    size = loguniform(rng, KiB, 16 * KiB + 1)
    if ".cache/" in rel or rng.random() < 0.17:
        return w.put(rel + ".bin", rng.randbytes(size), "small")
    kind = rng.choice(KINDS)
    return w.put(f"{rel}.{kind}", tx.of_kind(kind, rng, size), "small")


def gen_small(w, tx, seed, count):
    rng = random.Random(seed * 7 + 1)
    dirs = small_dirs(rng, tx, count)
    names = set()
    while len(names) < count:
        names.add(f"{rng.choice(dirs)}/{tx.pick_ids(rng, 1)[0]}-{rng.getrandbits(24):06x}")
    for rel in sorted(names):
        make_small(w, tx, rng, rel)


def gen_media(w, seed, total, scale):
    rng = random.Random(seed * 7 + 2)
    target = int(total * 0.30)
    for i in range(3):
        size = int(rng.randint(72, 96) * MiB * scale)
        w.put(f"Videos/clip-{i + 1:02d}.mp4", random_blocks(rng, size), "random")
    i = 0
    while w.stats["random"] < target:
        size = min(loguniform(rng, int(2.5 * MiB * scale), int(6 * MiB * scale) + 1),
                   target - w.stats["random"])
        w.put(f"Pictures/{2018 + i % 6}/DSC_{4000 + i * 7}.jpg", random_blocks(rng, size), "random")
        i += 1


def gen_text(w, tx, seed, total, scale):
    rng = random.Random(seed * 7 + 3)
    big = (("Mail/archive.eml", "eml", 64), (".local/share/app/app.log", "log", 40),
           ("work/data/export.csv", "csv", 24))
    for rel, kind, mib in big:
        size = int(mib * MiB * scale)
        blocks = (tx.of_kind(kind, rng, min(4 * MiB, size - off))
                  for off in range(0, size, 4 * MiB))
        w.put(rel, blocks, "text")
    dirs = ("Documents", "Documents/reports", "Documents/notes", "Downloads", "work/data",
            "src/vendor/lib", "src/tools", "work/logs")
    target = total - w.stats["random"] - w.stats["small"]
    i = 0
    while w.stats["text"] < target:
        size = min(loguniform(rng, max(KiB, int(32 * KiB * scale)), int(4 * MiB * scale) + 1),
                   target - w.stats["text"])
        kind = rng.choice(KINDS)
        name = tx.pick_ids(rng, 1)[0]
        w.put(f"{rng.choice(dirs)}/{name}-{i:04d}.{kind}", tx.of_kind(kind, rng, size), "text")
        i += 1


def set_dir_mtimes(root, t):
    for d, _, _ in os.walk(root):
        os.utime(d, (t, t))


def build_v1(root, seed, total):
    scale = total / GiB
    if os.path.exists(root) and os.listdir(root):
        sys.exit(f"gen-dataset: '{root}' exists and is not empty")
    os.makedirs(root, exist_ok=True)
    tx = Text(seed)
    w = Writer(root)
    gen_small(w, tx, seed, max(10, round(20000 * scale)))
    gen_media(w, seed, total, scale)
    gen_text(w, tx, seed, total, scale)
    set_dir_mtimes(root, T_V1)
    return w.stats


# ---- v2 ----

def list_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            out.append((os.path.relpath(p, root), os.path.getsize(p)))
    return sorted(out)


def list_dirs(root):
    return {d for d, _, _ in os.walk(root)}


def is_text(rel):
    return rel.rsplit(".", 1)[-1] in ("md", "txt", "c", "h", "py", "log", "csv", "eml")


def insert_middle(path, tx, rng, mtime):
    """Insert 1-4096 bytes near the middle of @path, rewriting the rest of it."""
    n = rng.randint(1, 4096)
    ins = tx.prose(rng, n) if is_text(path) else rng.randbytes(n)
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        mid = size // 2 + rng.randint(-min(4096, size // 4), min(4096, size // 4))
        f.seek(mid)
        tail = f.read()
        f.seek(mid)
        f.write(ins)
        f.write(tail)
    os.utime(path, (mtime, mtime))
    return n


def edit_small(path, tx, rng, mtime):
    """Overwrite a random range of @path, or append to it."""
    size = os.path.getsize(path)
    text = is_text(path)
    if rng.random() < 0.5 and size > 0:
        off = rng.randrange(size)
        n = rng.randint(1, size - off)
        data = tx.code(rng, n) if text else rng.randbytes(n)
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(data)
    else:
        n = rng.randint(64, 2048)
        with open(path, "ab") as f:
            f.write(tx.log(rng, n) if text else rng.randbytes(n))
    os.utime(path, (mtime, mtime))


def add_files(root, tx, rng, n_add, t):
    """Add @n_add files: a photo, two documents, the rest small files, 30% of them in new
    directories. Returns the writer (its stats and the paths it created)."""
    w = Writer(root)
    w.mtime = t
    scale = max(1e-3, min(1.0, n_add / 200))
    w.put("Pictures/2024/DSC_9001.jpg", random_blocks(rng, int(4 * MiB * scale)), "random")
    for i in range(2):
        size = loguniform(rng, int(64 * KiB * scale) + 1, int(2 * MiB * scale) + 2)
        w.put(f"Documents/new-{i}.md", tx.prose(rng, size), "text")
    existing = sorted({os.path.dirname(p) for p, _ in list_files(root) if "/" in p})
    for i in range(max(0, n_add - 3)):
        if rng.random() < 0.3:
            base = "new/" + "/".join(tx.pick_ids(rng, rng.randint(1, 3)))
        else:
            base = rng.choice(existing)
        make_small(w, tx, rng, f"{base}/{tx.pick_ids(rng, 1)[0]}-v2-{i:05d}")
    return w


def pick_changes(files, rng, n_mod):
    """The files to insert into (four of the five largest, six medium text files) and the
    small files to edit, so that 2% of all files change."""
    by_size = sorted(files, key=lambda f: (-f[1], f[0]))
    largest = [p for p, _ in by_size[:5]]
    skip = rng.choice(largest)
    inserts = [p for p in largest if p != skip]
    floor = by_size[0][1] / 100
    medium = [p for p, s in files if is_text(p) and p not in largest and s >= floor]
    inserts += rng.sample(medium, min(6, len(medium)))
    small_max = by_size[len(by_size) // 2][1]  # the median size
    small = [p for p, s in files if s <= small_max and p not in inserts]
    edits = rng.sample(small, max(0, min(len(small), n_mod - len(inserts))))
    return inserts, edits, small_max


def mutate(root, seed):
    rng = random.Random(seed * 7 + 4)
    tx = Text(seed)
    files = list_files(root)
    n = len(files)
    n_mod, n_add, n_del = round(n * 0.02), round(n * 0.01), round(n * 0.01)
    inserts, edits, small_max = pick_changes(files, rng, n_mod)
    st = {"files_before": n, "insertions": len(inserts), "inserted_bytes": 0,
          "edited_small": len(edits), "added": 0, "added_bytes": 0, "deleted": 0,
          "deleted_bytes": 0}
    t = itertools.count(T_V2)
    for p in inserts:
        st["inserted_bytes"] += insert_middle(os.path.join(root, p), tx, rng, next(t))
    for p in edits:
        edit_small(os.path.join(root, p), tx, rng, next(t))
    dirs_before = list_dirs(root)
    changed_dirs = set()
    touched = set(inserts) | set(edits)
    cand = [p for p, s in files if p not in touched and s <= small_max * 64]
    for p in sorted(rng.sample(cand, min(len(cand), n_del))):
        full = os.path.join(root, p)
        st["deleted_bytes"] += os.path.getsize(full)
        os.unlink(full)
        changed_dirs.add(os.path.dirname(full))
        st["deleted"] += 1
    w = add_files(root, tx, rng, n_add, t)
    st["added"] = w.stats["files"]
    st["added_bytes"] = w.stats["text"] + w.stats["random"] + w.stats["small"]
    changed_dirs |= {os.path.dirname(p) for p in w.created}
    # A directory's mtime changes when an entry is added or removed: the parents of added
    # and deleted files, new directories and their parents.
    new_dirs = list_dirs(root) - dirs_before
    changed_dirs |= new_dirs | {os.path.dirname(d) for d in new_dirs}
    for d in sorted(changed_dirs):
        os.utime(d, (T_V2, T_V2))
    st["files_after"] = len(list_files(root))
    return st


def main():
    ap = argparse.ArgumentParser(description="seeded home-directory-like benchmark corpus")
    ap.add_argument("mode", choices=("v1", "mutate"))
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=20240101)
    ap.add_argument("--size", type=parse_size, default=GiB, help="v1 total bytes (default 1G)")
    a = ap.parse_args()
    root = os.path.abspath(a.dir)
    t0 = time.monotonic()
    if a.mode == "v1":
        st = build_v1(root, a.seed, a.size)
        st["total"] = st["text"] + st["random"] + st["small"]
    else:
        if not os.path.isdir(root):
            sys.exit(f"gen-dataset: '{root}' is not a directory")
        st = mutate(root, a.seed)
    for k, v in st.items():
        big = k.endswith("bytes") or k in ("text", "random", "small", "total")
        extra = f" ({v / MiB:.1f} MiB)" if big else ""
        print(f"{a.mode} {k}: {v}{extra}")
    print(f"{a.mode} seconds: {time.monotonic() - t0:.1f}")


if __name__ == "__main__":
    main()
