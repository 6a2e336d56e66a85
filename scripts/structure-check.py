#!/usr/bin/env python3
"""Two structure rules that `make check` keeps (issue 12):

1. No function outside tests is 80 lines or longer: a long body mixes levels; cut it into named
   steps. Lengths count from the `fn` line to its closing brace, comments and literals ignored.
2. No import cycle between modules of src/: every `crate::`/`super::` path outside test modules
   is an arrow from its file to the longest prefix that names a file of src/; a strongly
   connected group of two or more files is a cycle. `pub use` re-exports are arrows like any
   other, so a cycle cannot hide behind one.

usage: scripts/structure-check.py [SRC_DIR]   (exit 1 and a list when a rule is broken)
"""
import os
import re
import sys

LIMIT = 80

FN_RE = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)')
def strip(src):  # blank comments and literal contents, keep newlines
    out = []; i = 0; n = len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j; out.append(' ' * (j - i)); i = j; continue
        if src.startswith('/*', i):
            d = 1; j = i + 2
            while j < n and d:
                if src.startswith('/*', j): d += 1; j += 2
                elif src.startswith('*/', j): d -= 1; j += 2
                else: j += 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j; continue
        m = re.match(r'b?r(#*)"', src[i:i+10])
        if m and (i == 0 or not (src[i-1].isalnum() or src[i-1] == '_')):
            h = m.group(1); e = src.find('"' + h, i + len(m.group(0)))
            e = n if e < 0 else e + 1 + len(h); out.append(re.sub(r'[^\n]', ' ', src[i:e])); i = e; continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"': j += 2 if src[j] == '\\' else 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j+1])); i = j + 1; continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'\n])'", src[i:i+12])
            if m: out.append(' ' * len(m.group(0))); i += len(m.group(0)); continue
        out.append(c); i += 1
    return ''.join(out)
def block_end(s, j):  # index of the brace closing the one at j
    d = 0
    for k in range(j, len(s)):
        if s[k] == '{': d += 1
        elif s[k] == '}':
            d -= 1
            if d == 0: return k
    return len(s)
def scan(path):
    src = open(path).read(); s = strip(src); lines = s.split('\n')
    offs = [0]
    for l in lines: offs.append(offs[-1] + len(l) + 1)
    tests = [(m.start(), block_end(s, m.end() - 1)) for m in
             re.finditer(r'#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{', s)]
    res = []
    for ln, line in enumerate(lines):
        m = FN_RE.match(line)
        if not m: continue
        j = offs[ln] + m.end(); depth = 0
        while j < len(s):  # the body's `{`, or `;` for a declaration
            if s[j] in '([<': depth += 1
            elif s[j] in ')]>': depth -= 1
            elif s[j] == ';' and depth <= 0: j = -1; break
            elif s[j] == '{' and depth <= 0: break
            j += 1
        if j < 0 or j >= len(s): continue
        end = s.count('\n', 0, block_end(s, j))
        code = sum(1 for l in lines[ln:end+1] if l.strip())
        t = path.startswith('tests/') or path.endswith('/tests.rs') or any(a <= offs[ln] <= b for a, b in tests)
        res.append((end - ln + 1, code, path, ln + 1, m.group(1), t))
    return res


def files_of(src):
    for dp, _, fs in os.walk(src):
        for f in sorted(fs):
            if f.endswith('.rs'):
                yield os.path.join(dp, f)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ('mod', 'lib', 'main'):
        rel = rel[:-1]
    return tuple(rel)


def resolve(mods, parts):
    """The longest prefix of `parts` that is a module with a file."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in mods:
            return tuple(parts[:n])
    return None


USE_GROUP = re.compile(r'\b(crate|super)((?:::\w+)*)::\{')
PATH = re.compile(r'\b(crate|super)((?:::\w+)+)')


def paths_in(code):
    """Every crate::/super:: path, with `use a::{b, c::d}` groups expanded one level deep."""
    for m in USE_GROUP.finditer(code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {'{': 1, '}': -1}.get(code[i], 0)
            i += 1
        for item in re.split(r'[,{}]', code[m.end():i - 1]):
            item = item.strip().split(' as ')[0].strip()
            if re.fullmatch(r'\w+(::\w+)*', item) and item != 'self':
                yield m.group(1), m.group(2).strip(':').split('::') + item.split('::')
            elif item == 'self':
                yield m.group(1), m.group(2).strip(':').split('::')
    for m in PATH.finditer(code):
        yield m.group(1), m.group(2).strip(':').split('::')


def edges(src):
    files = list(files_of(src))
    mods = {module_of(src, f): f for f in files}
    out = {}
    for f in files:
        code = strip(open(f).read())
        for a, b in test_ranges(code):
            code = code[:a] + re.sub(r'[^\n]', ' ', code[a:b]) + code[b:]
        me = module_of(src, f)
        here = me if os.path.basename(f) in ('mod.rs', 'lib.rs') else me[:-1]
        for root, parts in paths_in(code):
            parts = [p for p in parts if p]
            if root == 'super':
                base = list(here[:-1]) if os.path.basename(f) == 'mod.rs' else list(here)
                while parts and parts[0] == 'super':
                    base, parts = base[:-1], parts[1:]
                parts = base + parts
            to = resolve(mods, parts)
            if to is not None and to != me and to not in ((), ):
                out.setdefault(me, set()).add(to)
    return mods, out


def test_ranges(s):
    return [(m.start(), block_end(s, m.end() - 1)) for m in
            re.finditer(r'#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{', s)]


def cycles(nodes, out):
    """Tarjan's strongly connected components of two or more nodes."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in out.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else 'src'
    bad = 0
    for tot, _, path, line, name, is_test in sorted(
            (r for f in files_of(src) for r in scan(f)), reverse=True):
        if not is_test and tot >= LIMIT:
            print(f'{path}:{line}: fn {name} is {tot} lines (the limit is {LIMIT - 1})')
            bad += 1
    mods, out = edges(src)
    for group in cycles(mods, out):
        names = ['::'.join(g) or 'crate' for g in group]
        print('import cycle: ' + ' <-> '.join(names))
        for a in group:
            for b in sorted(out.get(a, ())):
                if b in group:
                    print(f'  {mods[a]} uses {"::".join(b)}')
        bad += 1
    if bad:
        print(f'structure-check: {bad} problem(s)')
        return 1
    print(f'structure-check: {len(mods)} modules, no function of {LIMIT} lines or more, no import cycle')
    return 0


if __name__ == '__main__':
    sys.exit(main())
