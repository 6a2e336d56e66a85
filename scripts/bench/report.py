#!/usr/bin/env python3
"""Small helpers for the benchmark scripts (standard library only).

  report.py hf JSON NAME FIELD      one statistic of one command in a hyperfine JSON export:
                                    mean, stddev, median, min, max, cpu (user + system)
                                    or runs (seconds)
  report.py table TSV HEADER_MD     the results table (rows: section, measurement, result, goal,
                                    verdict) as markdown, after the header file's text
  report.py zipsummary ZIP          entries, directories, stored/deflated files, sizes
  report.py zipcompare A B          per-entry compressed-size difference of two ZIPs of the
                                    same tree (where B is the reference), largest first
"""
import json
import os
import sys
import zipfile


def hf(path, name, field):
    with open(path) as f:
        data = json.load(f)
    for r in data["results"]:
        if r["command"] == name:
            if field == "runs":
                return str(len(r["times"]))
            if field == "cpu":
                return f"{r['user'] + r['system']:.6f}"
            value = r[field]
            # hyperfine has no standard deviation for a single run
            return f"{value or 0.0:.6f}"
    sys.exit(f"report.py: no command named {name!r} in {path}")


def table(tsv, header):
    rows = []
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                rows.append((line.split("\t") + [""] * 5)[:5])
    out = []
    with open(header) as f:
        out.append(f.read().rstrip("\n"))
    out.append("")
    out.append("| section | measurement | result | goal | verdict |")
    out.append("|---|---|---|---|---|")
    for section, what, value, goal, verdict in rows:
        if verdict == "NOT met":
            verdict = "**NOT met**"
        cells = [c.replace("|", "\\|") for c in (section, what, value, goal, verdict)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def zipsummary(path):
    z = zipfile.ZipFile(path)
    infos = z.infolist()
    dirs = sum(1 for i in infos if i.is_dir())
    stored = sum(1 for i in infos if not i.is_dir() and i.compress_type == zipfile.ZIP_STORED)
    files = len(infos) - dirs
    raw = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    return (f"entries={len(infos)} dirs={dirs} files={files} stored_files={stored} "
            f"content={raw} compressed={packed}")


def zipcompare(a, b, top=8):
    """First line: the size difference A - B split into compressed data and the rest (headers,
    central directory); then the files whose compressed size differs most."""
    za = {i.filename: i for i in zipfile.ZipFile(a).infolist()}
    zb = {i.filename: i for i in zipfile.ZipFile(b).infolist()}
    common = [n for n in za if n in zb and not n.endswith("/")]
    diffs = sorted(((za[n].compress_size - zb[n].compress_size, n) for n in common), reverse=True)
    data = sum(i.compress_size for i in za.values()) - sum(i.compress_size for i in zb.values())
    total = os.path.getsize(a) - os.path.getsize(b)
    lines = [f"{total:+d} B in all: compressed data {data:+d} B, headers and directory "
             f"{total - data:+d} B; largest: {diffs[0][0]:+d} B {diffs[0][1].rsplit('/', 1)[-1]}"
             if diffs else f"{total:+d} B"]
    lines.append(f"common files {len(common)}, only in A {len(set(za) - set(zb))}, "
                 f"only in B {len(set(zb) - set(za))}")
    for d, n in diffs[:top]:
        lines.append(f"  {d:+10d}  {za[n].file_size:>10d} B  {n}")
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "hf" and len(args) == 3:
        print(hf(*args))
    elif cmd == "table" and len(args) == 2:
        sys.stdout.write(table(*args))
    elif cmd == "zipsummary" and len(args) == 1:
        print(zipsummary(*args))
    elif cmd == "zipcompare" and len(args) == 2:
        print(zipcompare(*args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
