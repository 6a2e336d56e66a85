"""Run pip commands in one interpreter: `pip_steps.py download ... :: install ...`.

Each command runs after the one before it succeeded; the exit code is the first failing one's.
Starting pip costs 0.3-1 s per process (importing it, building its session and CA context), and
a build with the download cache runs two commands back to back. pip's in-process entry point
(pip._internal.cli.main.main, in pip >= 19.3) is not a public API, so when it is missing each
command runs as its own `python -m pip` process instead, with the same result. The process ends
with os._exit once everything is flushed: tearing the interpreter down after pip took 0.2-0.3 s.
"""
import logging
import os
import subprocess
import sys


def commands(argv):
    out = [[]]
    for arg in argv:
        if arg == "::":
            out.append([])
        else:
            out[-1].append(arg)
    return [c for c in out if c]


def run(command):
    try:
        from pip._internal.cli.main import main
    except ImportError:
        return subprocess.call([sys.executable, "-m", "pip"] + command)
    return main(command)


def entry():
    for command in commands(sys.argv[1:]):
        code = run(command)
        if code:
            return code
    return 0


if __name__ == "__main__":
    status = entry()
    # pip has closed its files and removed its temporary folders by the time main() returns.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
