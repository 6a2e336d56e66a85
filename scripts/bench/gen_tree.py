#!/usr/bin/env python3
"""Generate a large layer-like tree for packing benchmarks, deterministically (fixed seed).

usage: gen_tree.py OUT_DIR [TOTAL_MB]      (default 300; writes OUT_DIR/python/...)

The mix imitates a big dependency layer, scaled to TOTAL_MB:
  ~20%  many small source-like text files (0.5-60 kB)            compress ~3-4x
  ~15%  small binary files of random bytes (1-256 kB)             incompressible
  ~12%  medium files (0.5-4 MB), half text, half random
  ~53%  big files over 4 MB (the packer streams these instead of handing them to workers):
        random (like bundled wheels or media), text (like data files) and shared-library-like
        files (random blocks, zero padding and text-like tables, compressing ~1.5-2x)
A few files are executable. No links: every zipper compared stores the same entries.
"""
import os
import random
import sys

MB = 1 << 20


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = os.path.join(sys.argv[1], "python")
    total = int(sys.argv[2]) * MB if len(sys.argv) == 3 else 300 * MB
    rng = random.Random(20261121)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 12)))
             for _ in range(3000)]
    # A pool of source-like lines; files pick lines at random, so repeats lie mostly farther
    # apart than deflate's 32 kB window, as in real code.
    lines = []
    for _ in range(20000):
        indent = "    " * rng.randint(0, 3)
        body = " ".join(rng.choices(words, k=rng.randint(2, 10)))
        kind = rng.random()
        if kind < 0.2:
            lines.append(f"{indent}def {body.replace(' ', '_')[:40]}(self, value=None):\n")
        elif kind < 0.35:
            lines.append(f"{indent}# {body}\n")
        else:
            lines.append(f"{indent}{body.split()[0]} = {body}\n")

    def text(size):
        parts, n = [], 0
        while n < size:
            chunk = "".join(rng.choices(lines, k=512))
            parts.append(chunk)
            n += len(chunk)
        return "".join(parts).encode()[:size]

    def random_bytes(size):
        return rng.randbytes(size)

    def library_like(size):
        parts, n = [], 0
        while n < size:
            r = rng.random()
            block = rng.randint(4096, 256 * 1024)
            if r < 0.55:
                parts.append(rng.randbytes(block))           # machine code: barely compresses
            elif r < 0.75:
                parts.append(bytes(block))                   # padding between sections
            else:
                parts.append(text(block))                    # symbol and string tables
            n += block
        return b"".join(parts)[:size]

    written = 0
    count = 0

    def write(rel, data, exec_bit=False):
        nonlocal written, count
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o755 if exec_bit else 0o644)
        written += len(data)
        count += 1

    # Big files first: fixed shares of the total, sizes between 5 and 60 MB.
    big = [(0.10, random_bytes, "bundled/assets/model_a.bin"),
           (0.05, random_bytes, "bundled/assets/model_b.bin"),
           (0.10, text, "dataset/corpus/records.jsonl"),
           (0.05, text, "dataset/corpus/index.csv"),
           (0.13, library_like, "engine.libs/libengine-core.so.3"),
           (0.06, library_like, "engine/_native.cpython-311-x86_64-linux-gnu.so"),
           (0.04, library_like, "engine.libs/libgfortran-like.so.5")]
    for share, make, rel in big:
        size = max(int(total * share), 5 * MB)
        write(rel, make(size), exec_bit=rel.endswith((".so", ".so.3", ".so.5")))

    medium_budget = int(total * 0.12)
    i = 0
    while medium_budget > 0:
        size = min(rng.randint(MB // 2, 4 * MB), medium_budget)
        make = text if i % 2 == 0 else random_bytes
        ext = "txt" if i % 2 == 0 else "dat"
        write(f"engine/data/part{i:03d}/blob{i:03d}.{ext}", make(size))
        medium_budget -= size
        i += 1

    binary_budget = int(total * 0.15)
    i = 0
    while binary_budget > 0:
        size = min(rng.randint(1024, 256 * 1024), binary_budget)
        write(f"engine/_resources/r{i % 40:02d}/res{i:05d}.bin", random_bytes(size),
              exec_bit=(i % 97 == 0))
        binary_budget -= size
        i += 1

    # Source files fill the rest, in a package-like hierarchy.
    i = 0
    while written < total:
        size = min(rng.randint(512, 60 * 1024), max(total - written, 1))
        pkg = f"pkg{i % 25:02d}/sub{(i // 25) % 12:02d}"
        write(f"{pkg}/module_{i:05d}.py", text(size))
        i += 1

    print(f"{out}: {count} files, {written} bytes")


if __name__ == "__main__":
    main()
