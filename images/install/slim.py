"""--slim: remove from /opt what no import reaches, and debug sections no tool depends on.

    python3 slim.py /opt CACHE_TAG

Runs in the build container after every installer and before byte-code is compiled (so nothing
is compiled that is then removed). It runs there, not in fclayer on the ZIP, because it needs the
image's `strip` (binutils for the target's machine) and must see the tree before byte-code and
packing; the ZIP writer then packs the result like any other tree. Every rule is safe by
construction, and fclayer still runs the ELF gate and `verify`'s import and loader check on the
slim layer afterwards.

Rules (each reported as `RULE FILES BYTES` in /fclayer/report/slim.txt, which fclayer shows):
- python-tests: `tests/` and `testing/` packages below python/ that no module outside them imports
  (found by parsing every other .py file's imports, plus any mention of the dotted name in a string,
  for importlib.import_module). numpy.testing is kept: numpy's __init__ reaches it.
- python-stubs: `*.pyi` type stubs (read by type checkers, never imported).
- python-build-sources: C/C++ headers and sources and Cython files (`*.h`, `*.pxd`, `*.pyx`,
  `*.c`, ...) below python/: what a compiler reads to build against a package, never an import.
- python-foreign-pycache: `.pyc` files in `__pycache__` for another Python than the runtime's
  (their tag is not CACHE_TAG): the runtime ignores them.
- node-gyp-intermediates: `build/Release/obj.target`, `build/Release/.deps`, `build/Release/obj`
  (and the same below node-pre-gyp's `build-tmp-*/Release`) of node-gyp builds (object files and dependency lists; the addon is `build/Release/*.node`).
- node-pre-gyp-staging: node-pre-gyp's `build-tmp-napi-vN/` build folder, once the addon it
  built is in the package.json's `binary.module_path` (where node-pre-gyp loads it from).
- node-docs-examples: `docs/`, `doc/`, `example/`, `examples/` folders at the top of an npm package
  when no other file of the package names them.
- strip-debug: `strip --strip-debug` on ELF shared objects and programs that no tool patched, kept
  only when every allocated section and the program headers come out byte-identical (what the
  loader maps is unchanged, symbol versions included). Refused, and counted, for:
  * files below a `*.libs/` folder (auditwheel's vendored libraries, patched by patchelf),
  * files whose RPATH/RUNPATH names `$ORIGIN/...libs` (repaired by auditwheel),
  * files whose program headers are not right after the ELF header, or with a PT_LOAD segment
    after a non-allocated section (the layouts patchelf leaves; strip rewrites them wrongly:
    "ELF load command address/offset not properly aligned"),
  * files without section headers, or without debug sections (nothing to gain).
"""
import ast
import os
import re
import shutil
import struct
import subprocess
import sys

REPORT = {}


def note(rule, path):
    size = os.lstat(path).st_size if not os.path.isdir(path) else tree_size(path)
    files = 1 if not os.path.isdir(path) else tree_files(path)
    n, b = REPORT.get(rule, (0, 0))
    REPORT[rule] = (n + files, b + size)


def tree_size(path):
    total = 0
    for top, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(top, f)).st_size
    return total


def tree_files(path):
    return sum(len(files) for _, _, files in os.walk(path))


def remove(rule, path):
    note(rule, path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


# --- Python --------------------------------------------------------------------------------------


def walk_sorted(root):
    for top, dirs, files in os.walk(root):
        dirs.sort()
        yield top, dirs, sorted(files)


def module_name(root, path):
    rel = os.path.relpath(path, root)[: -len(".py")]
    parts = rel.split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(root, path):
    """Dotted names a file imports, relative imports resolved, and dotted names in its strings."""
    try:
        with open(path, "rb") as f:
            source = f.read()
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        # Not compilable by this Python: treat every dotted word in it as a possible import.
        return set(re.findall(r"[A-Za-z_][\w.]*", source.decode("utf-8", "replace")))
    name = module_name(root, path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            out.add(base)
            for alias in node.names:
                out.add(base + "." + alias.name if base else alias.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "." in node.value and len(node.value) < 200:
                out.add(node.value)
    return out


# What a compiler reads to build against a package (numpy's and lxml's C headers, Cython
# declarations and sources); importing never opens them. (.py sources stay: tracebacks.)
BUILD_SOURCES = (".h", ".hpp", ".pxd", ".pyx", ".pxi", ".c", ".cpp", ".cc")


def python_rules(root, cache_tag):
    if not os.path.isdir(root):
        return
    candidates = []
    for top, dirs, _ in walk_sorted(root):
        for d in list(dirs):
            path = os.path.join(top, d)
            # Nested ones are candidates too (numpy/testing is kept, numpy/testing/tests is not).
            if d in ("tests", "testing") and os.path.isfile(os.path.join(top, "__init__.py")):
                candidates.append(path)
            elif d.endswith(".dist-info") or d.endswith(".egg-info"):
                dirs.remove(d)
    if candidates:
        def inside(p):
            """The innermost candidate holding p."""
            owners = [c for c in candidates if p.startswith(c + os.sep)]
            return max(owners, key=len) if owners else None

        names = {c: module_name(root, os.path.join(c, "__init__.py")) for c in candidates}
        refs = {}  # file -> imported names
        for top, _, files in walk_sorted(root):
            for f in files:
                if f.endswith(".py"):
                    p = os.path.join(top, f)
                    refs[p] = imports_of(root, p)
        kept = set()
        changed = True
        while changed:  # a kept test package keeps what it imports
            changed = False
            for p, imported in refs.items():
                owner = inside(p)
                if owner is not None and owner not in kept:
                    continue
                for c in candidates:
                    if c in kept or c == owner:
                        continue
                    n = names[c]
                    if any(i == n or i.startswith(n + ".") for i in imported):
                        # A kept package keeps the candidates it sits in.
                        kept.update(o for o in candidates if c == o or c.startswith(o + os.sep))
                        changed = True
        for c in candidates:
            if not os.path.exists(c):
                continue  # inside a candidate removed before it
            if c in kept:
                print("fclayer: slim: kept %s (imported by the package)" % os.path.relpath(c, root))
            else:
                remove("python-tests", c)
    for top, dirs, files in walk_sorted(root):
        for f in files:
            p = os.path.join(top, f)
            if f.endswith(".pyi"):
                remove("python-stubs", p)
            elif f.endswith(BUILD_SOURCES) and not os.path.islink(p):
                remove("python-build-sources", p)
            elif os.path.basename(top) == "__pycache__" and f.endswith(".pyc") and cache_tag:
                # name.cpython-39.pyc, name.cpython-39.opt-1.pyc: the tag is the second part.
                parts = f.split(".")
                if len(parts) >= 3 and parts[1] != cache_tag:
                    remove("python-foreign-pycache", p)


# --- Node.js -------------------------------------------------------------------------------------


def node_packages(modules):
    for name in sorted(os.listdir(modules)):
        path = os.path.join(modules, name)
        if name.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        if name.startswith("@"):
            for sub in sorted(os.listdir(path)):
                p = os.path.join(path, sub)
                if os.path.isdir(p) and not os.path.islink(p):
                    yield p
        else:
            yield path


def mentions(package, folder, name):
    """Does any file of the package outside `folder` name it (require, import, exports, files)?"""
    pattern = re.compile(r"""["'`/]""" + re.escape(name) + r"""(?:["'`/]|$)""")
    for top, dirs, files in os.walk(package):
        if top == folder or top.startswith(folder + os.sep):
            continue
        if os.path.basename(top) == "node_modules":
            dirs[:] = []
            continue
        for f in files:
            if f.endswith((".js", ".cjs", ".mjs", ".json", ".ts")):
                try:
                    with open(os.path.join(top, f), "r", encoding="utf-8", errors="replace") as h:
                        if pattern.search(h.read()):
                            return True
                except OSError:
                    return True
    return False


def pre_gyp_staging(package):
    """node-pre-gyp builds in build-tmp-napi-vN/ and copies the addon to the package.json's
    binary.module_path, which is where it loads it from: the build folder is left over once that
    copy exists."""
    try:
        import json
        with open(os.path.join(package, "package.json"), encoding="utf-8") as f:
            binary = json.load(f).get("binary") or {}
    except (OSError, ValueError):
        return []
    module_path = binary.get("module_path") if isinstance(binary, dict) else None
    if not isinstance(module_path, str):
        return []
    out = []
    for d in sorted(os.listdir(package)):
        m = re.match(r"build-tmp-napi-v(\d+)$", d)
        if not m:
            continue
        target = os.path.normpath(os.path.join(
            package, module_path.replace("{napi_build_version}", m.group(1))))
        if not target.startswith(package + os.sep) or not os.path.isdir(target):
            continue
        if any(f.endswith(".node") for f in os.listdir(target)):
            out.append(os.path.join(package, d))
    return out


def node_rules(root):
    for top, dirs, _ in walk_sorted(root):
        parent = os.path.basename(os.path.dirname(top))
        if os.path.basename(top) == "Release" and (parent == "build" or parent.startswith("build-tmp-")):
            for d in ("obj.target", ".deps", "obj"):
                if d in dirs:
                    remove("node-gyp-intermediates", os.path.join(top, d))
                    dirs.remove(d)
        if os.path.basename(top) == "node_modules":
            for package in node_packages(top):
                staged = pre_gyp_staging(package)
                for d in staged:
                    remove("node-pre-gyp-staging", d)
                    if os.path.basename(d) in dirs:
                        dirs.remove(os.path.basename(d))
                for d in ("docs", "doc", "example", "examples"):
                    folder = os.path.join(package, d)
                    if os.path.isdir(folder) and not os.path.islink(folder):
                        if not mentions(package, folder, d):
                            remove("node-docs-examples", folder)


# --- ELF -----------------------------------------------------------------------------------------


class Elf:
    """Just enough of an ELF file: program headers, sections, RPATH/RUNPATH."""

    def __init__(self, data):
        if data[:4] != b"\x7fELF":
            raise ValueError("not ELF")
        self.data = data
        self.is64 = data[4] == 2
        e = "<" if data[5] == 1 else ">"
        self.e = e
        if self.is64:
            (self.type, _, _, _, self.phoff, self.shoff, _, self.ehsize, self.phentsize,
             self.phnum, self.shentsize, self.shnum, self.shstrndx) = struct.unpack_from(
                e + "HHIQQQIHHHHHH", data, 16)
        else:
            (self.type, _, _, _, self.phoff, self.shoff, _, self.ehsize, self.phentsize,
             self.phnum, self.shentsize, self.shnum, self.shstrndx) = struct.unpack_from(
                e + "HHIIIIIHHHHHH", data, 16)
        self.phdrs = []
        for i in range(self.phnum):
            o = self.phoff + i * self.phentsize
            if self.is64:
                t, fl, off, va, pa, fs, ms, al = struct.unpack_from(e + "IIQQQQQQ", data, o)
            else:
                t, off, va, pa, fs, ms, fl, al = struct.unpack_from(e + "IIIIIIII", data, o)
            self.phdrs.append((t, fl, off, va, fs, ms, al))
        self.sections = []
        for i in range(self.shnum if self.shoff else 0):
            o = self.shoff + i * self.shentsize
            if self.is64:
                nm, t, fl, ad, off, sz, ln, inf, al, es = struct.unpack_from(e + "IIQQQQIIQQ", data, o)
            else:
                nm, t, fl, ad, off, sz, ln, inf, al, es = struct.unpack_from(e + "IIIIIIIIII", data, o)
            self.sections.append([nm, t, fl, ad, off, sz])
        if self.sections and self.shstrndx < len(self.sections):
            strtab = self.sections[self.shstrndx]
            base = strtab[4]
            for s in self.sections:
                end = data.find(b"\0", base + s[0])
                s[0] = data[base + s[0]:end].decode("latin-1")

    def allocated(self):
        """Name, address and bytes of every section the loader maps (SHF_ALLOC)."""
        out = []
        for name, t, flags, addr, off, size in self.sections:
            if flags & 2:
                body = b"" if t == 8 else self.data[off:off + size]  # SHT_NOBITS holds no bytes
                out.append((name, addr, size, body))
        return out

    def rpaths(self):
        dyn = next((s for s in self.sections if s[1] == 6), None)  # SHT_DYNAMIC
        dynstr = next((s for s in self.sections if s[0] == ".dynstr"), None)
        if not dyn or not dynstr:
            return []
        out = []
        size = 16 if self.is64 else 8
        fmt = self.e + ("qQ" if self.is64 else "iI")
        for o in range(dyn[4], dyn[4] + dyn[5], size):
            tag, val = struct.unpack_from(fmt, self.data, o)
            if tag == 0:
                break
            if tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                start = dynstr[4] + val
                out.append(self.data[start:self.data.find(b"\0", start)].decode("latin-1"))
        return out


def patched_reason(rel, elf):
    """Why this file must not be stripped, or None."""
    if any(part.endswith(".libs") for part in rel.split("/")[:-1]):
        return "in a *.libs folder (auditwheel's vendored libraries)"
    for rpath in elf.rpaths():
        if ".libs" in rpath:
            return "RPATH/RUNPATH %s (auditwheel-repaired)" % rpath
    if elf.type not in (2, 3):  # ET_EXEC, ET_DYN
        return "not a program or shared object"
    if not elf.sections:
        return "no section headers"
    if elf.phoff != elf.ehsize:
        return "program headers moved (patchelf)"
    loads = [p for p in elf.phdrs if p[0] == 1]
    unmapped = [s[4] for s in elf.sections if not s[2] & 2 and s[1] != 0 and s[4]]
    if loads and unmapped and max(p[2] for p in loads) > min(unmapped):
        return "a PT_LOAD segment after non-allocated sections (patchelf)"
    if not any(s[0].startswith(".debug_") or s[0].startswith(".zdebug_") for s in elf.sections):
        return ""
    return None


def strip_rule(root):
    strip = shutil.which("strip")
    refused = {}
    for top, _, files in walk_sorted(root):
        for f in files:
            p = os.path.join(top, f)
            if os.path.islink(p) or not os.path.isfile(p) or f.endswith((".o", ".a", ".ko")):
                continue
            with open(p, "rb") as h:
                if h.read(4) != b"\x7fELF":
                    continue
                h.seek(0)
                data = h.read()
            rel = os.path.relpath(p, root)
            try:
                elf = Elf(data)
                reason = patched_reason(rel, elf)
            except (ValueError, struct.error, IndexError):
                reason = "unreadable ELF headers"
            if reason == "":
                continue  # no debug sections: nothing to strip
            if reason is not None:
                refused[rel] = reason
                continue
            if strip is None:
                refused[rel] = "no strip in the build image"
                continue
            tmp = p + ".fclayer-strip"
            r = subprocess.run([strip, "--strip-debug", "-o", tmp, p],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                refused[rel] = "strip failed: " + r.stdout.decode("utf-8", "replace").strip()[-200:]
                if os.path.exists(tmp):
                    os.remove(tmp)
                continue
            with open(tmp, "rb") as h:
                after = Elf(h.read())
            # What the loader maps must be exactly what it was: segments and allocated sections.
            if after.phdrs != elf.phdrs or after.allocated() != elf.allocated():
                refused[rel] = "strip changed what the loader maps"
                os.remove(tmp)
                continue
            saved = len(data) - os.path.getsize(tmp)
            os.chmod(tmp, os.stat(p).st_mode & 0o7777)
            os.replace(tmp, p)
            n, b = REPORT.get("strip-debug", (0, 0))
            REPORT["strip-debug"] = (n + 1, b + saved)
    for rel in sorted(refused):
        print("fclayer: slim: not stripped: %s: %s" % (rel, refused[rel]))
    return refused


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/opt"
    cache_tag = sys.argv[2] if len(sys.argv) > 2 else ""
    before = tree_size(root)
    python_rules(os.path.join(root, "python"), cache_tag)
    node = os.path.join(root, "nodejs")
    if os.path.isdir(node):
        node_rules(node)
    refused = strip_rule(root)
    lines = []
    for rule in ("python-tests", "python-stubs", "python-build-sources", "python-foreign-pycache",
                 "node-gyp-intermediates", "node-pre-gyp-staging", "node-docs-examples",
                 "strip-debug"):
        n, b = REPORT.get(rule, (0, 0))
        lines.append("%s %d %d" % (rule, n, b))
    lines.append("total %d %d" % (before - tree_size(root), before))
    lines.extend("not-stripped %s: %s" % (rel, why) for rel, why in sorted(refused.items()))
    for line in lines:
        print("fclayer: slim: " + line)
    # fclayer reads the report back for the build's summary and manifest.
    os.makedirs("/fclayer/report", exist_ok=True)
    with open("/fclayer/report/slim.txt", "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
