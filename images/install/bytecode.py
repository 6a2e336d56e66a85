"""Compile every .py below a layer folder into reproducible, hash-based byte-code.

    python3.X bytecode.py /opt/python [JOBS]

Runs in the build container with the runtime's own interpreter (its magic number is the one the
runtime accepts), after the install and after --slim. Why each choice:

- PEP 552 hash-based .pyc, `unchecked-hash`: the file holds a hash of its source instead of the
  source's mtime, so the bytes do not depend on when the build ran; "unchecked" because FC's /opt
  is read-only and never edited, so the import system need not hash the source on every import.
- PYTHONHASHSEED=0: the hash seed orders the elements of set and frozenset constants
  (`x in {"a", "b"}` is compiled to a frozenset); with a random seed 31 of 590 files differed
  between two compilations. The script re-executes itself when the seed is not 0.
- Files in sorted path order, split into a fixed number of chunks, each compiled in order by a
  process forked from one primed parent: marshal flags a string for back-references when its
  reference count is above one, and whether it is interned, so a file's bytes depend on what the
  process did before it. Measured on pandas + boto3 + numpy (2304 files), compiling in reverse
  order changed 166 files. Most of it is state the compiler creates lazily and keeps forever:
  codec modules imported for a coding cookie, tokenize, and unicodedata's static "NFC"/"NFKC"
  strings (the parser normalises non-ASCII identifiers). `prime()` creates that state before the
  first file, which left 4 files order-dependent (strings interned by an earlier compilation in
  botocore/docs). So what a file's bytes depend on is fixed by construction: the primed parent's
  state (the same in every build) and the files before it in its chunk. The chunks are CHUNKS
  slices of the sorted list with about equal source bytes, whatever the machine's core count;
  as many run at once as there are cores (compileall's `-j` pool hands files to workers as they
  come free, so its split, and the bytes, vary). One process per file would need no chunks, but
  a fork per file costs more than compiling the file (measured: 2.6 s instead of 1.4 s for 590).
- The path embedded in each code object (co_filename, shown in tracebacks) is the file's path in
  the container, which is where it sits at run time (/opt/python/...): the layer is built in place.
- The .pyc goes where the runtime looks (`__pycache__/<name>.cpython-3X.pyc`); a wheel's own .pyc
  for this Python is replaced, so every file is compiled the same way whatever the wheel shipped.
  Source files stay (tracebacks, `inspect`). A file this Python cannot compile (Python 2 leftovers,
  templates) is left without byte-code, as pip does, and counted.

Python 3.6 has no hash-based .pyc (3.7+): nothing is compiled there, and the script says so.
Prints one line `fclayer: byte-code ...` with what it did.
"""
import os
import sys


def prime():
    """Create up front what compiling some file would otherwise create in the middle."""
    import encodings
    import pkgutil
    import tokenize  # noqa: F401 (importlib's decode_source imports it on first use)
    import unicodedata
    import warnings  # noqa: F401

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            __import__("encodings." + module.name)
        except Exception:
            pass  # codecs of other platforms (mbcs, oem)
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        unicodedata.normalize(form, "x")
        if hasattr(unicodedata, "is_normalized"):
            unicodedata.is_normalized(form, "x")
    compile(
        "def f\u00e9(a, *b, **c):\n    return f'{a!r:>{b}}'\n"
        "class C:\n    def m(self):\n        return super().m(), __class__\n"
        "async def g():\n    async with a as b:\n        await b\n",
        "<prime>",
        "exec",
    )


# Fixed, not the core count: the chunks decide the bytes (see above). 16 keeps up to 16 cores
# busy and costs 16 forks.
CHUNKS = 16


def chunks(sources, count):
    """The sorted sources cut into `count` runs of about equal total size (deterministic)."""
    sizes = [os.stat(path).st_size + 1 for path in sources]
    total = sum(sizes)
    out, current, done = [], [], 0
    for path, size in zip(sources, sizes):
        current.append(path)
        done += size
        if done * count >= total * (len(out) + 1) and len(out) < count - 1:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def compile_chunk(paths, mode):
    """In a forked child: compile these files in order; returns (compiled, failed)."""
    import importlib.util
    import py_compile

    compiled = failed = 0
    for path in paths:
        cfile = importlib.util.cache_from_source(path)
        try:
            py_compile.compile(path, cfile=cfile, dfile=path, doraise=True,
                               invalidation_mode=mode)
            compiled += 1
        except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeDecodeError):
            # What the runtime would also fail to compile: no .pyc, and a stale one must not stay.
            failed += 1
            if os.path.exists(cfile):
                os.remove(cfile)
    return compiled, failed


def run_chunks(parts, mode, jobs):
    """Fork one child per chunk from this (primed) process, at most `jobs` at a time."""
    running = {}
    compiled = failed = 0
    errors = []

    def reap():
        nonlocal compiled, failed
        pid, status = os.wait()
        read_end, index = running.pop(pid)
        with os.fdopen(read_end) as pipe:
            counts = pipe.read().split()
        if status == 0 and len(counts) == 2:
            compiled += int(counts[0])
            failed += int(counts[1])
        else:
            errors.append("chunk %d (%s...) ended with status %d" % (index, parts[index][0], status))

    for index, paths in enumerate(parts):
        while len(running) >= jobs:
            reap()
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            code = 0
            try:
                counts = compile_chunk(paths, mode)
                os.write(write_end, ("%d %d" % counts).encode())
            except BaseException as e:  # anything else is fclayer's bug: say it, fail the build
                sys.stderr.write("fclayer: byte-code: %s: %r\n" % (paths[0], e))
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        os.close(write_end)
        running[pid] = (read_end, index)
    while running:
        reap()
    return compiled, failed, errors


def cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main(root, jobs=None):
    if sys.version_info < (3, 7):
        print("fclayer: byte-code: none (Python %d.%d has no hash-based .pyc; PEP 552 is 3.7+)"
              % sys.version_info[:2])
        return 0
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import py_compile
    import warnings

    # Compile-time warnings (invalid escapes in old packages) are the packages' business.
    warnings.simplefilter("ignore")
    prime()

    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    sources = []
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(top, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    sources.append(path)
    sources.sort()
    jobs = max(1, min(jobs or cores(), CHUNKS))
    compiled, failed, errors = run_chunks(chunks(sources, CHUNKS), mode, jobs)
    if errors:
        for error in errors:
            sys.stderr.write("fclayer: byte-code: %s\n" % error)
        return 1
    tag = sys.implementation.cache_tag
    line = "%d files compiled for Python %d.%d (%s, unchecked-hash)%s" % (
        compiled, sys.version_info[0], sys.version_info[1], tag,
        ", %d not compilable by this Python left as source" % failed if failed else "")
    print("fclayer: byte-code: " + line)
    # fclayer reads it back for the build's summary.
    os.makedirs("/fclayer/report", exist_ok=True)
    with open("/fclayer/report/bytecode.txt", "w") as f:
        f.write(line + "\n")
    return 0


if __name__ == "__main__":
    # bytecode.py [ROOT [JOBS]]: JOBS (processes at once, default the cores) never changes the
    # bytes; tests pass it to show that.
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/opt/python",
                  int(sys.argv[2]) if len(sys.argv) > 2 else None))
