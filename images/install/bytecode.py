"""Compile every .py below a layer folder into reproducible, hash-based byte-code.

    python3.X bytecode.py /opt/python

Runs in the build container with the runtime's own interpreter (its magic number is the one the
runtime accepts), after the install and after --slim. Why each choice:

- PEP 552 hash-based .pyc, `unchecked-hash`: the file holds a hash of its source instead of the
  source's mtime, so the bytes do not depend on when the build ran; "unchecked" because FC's /opt
  is read-only and never edited, so the import system need not hash the source on every import.
- PYTHONHASHSEED=0: the hash seed orders the elements of set and frozenset constants
  (`x in {"a", "b"}` is compiled to a frozenset); with a random seed 31 of 590 files differed
  between two compilations. The script re-executes itself when the seed is not 0.
- One process, files in sorted path order: marshal flags a string for back-references when its
  reference count is above one, and whether it is interned, so a file's bytes depend on what the
  process did before it. Measured on pandas + boto3 + numpy (2304 files), compiling in reverse
  order changed 166 files. Most of it is state the compiler creates lazily and keeps forever:
  codec modules imported for a coding cookie, tokenize, and unicodedata's static "NFC"/"NFKC"
  strings (the parser normalises non-ASCII identifiers). `prime()` creates that state before the
  first file, which left 4 files order-dependent (strings interned by an earlier compilation in
  botocore/docs); the fixed order in one process (not compileall's `-j` pool, whose split between
  workers varies) makes the rest deterministic too: same files, same bytes.
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


def main(root):
    if sys.version_info < (3, 7):
        print("fclayer: byte-code: none (Python %d.%d has no hash-based .pyc; PEP 552 is 3.7+)"
              % sys.version_info[:2])
        return 0
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)

    import importlib.util
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
    compiled = failed = 0
    for path in sorted(sources):
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
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/opt/python"))
