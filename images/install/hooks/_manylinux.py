"""fclayer's PEP 600 hook: cap manylinux wheels at the target runtime's glibc.

pip (through `packaging`) imports `_manylinux` and calls manylinux_compatible() before it accepts a
`manylinux_X_Y_ARCH` wheel. A build image may run a newer glibc than the FC runtime it builds for
(Debian 11 building for Debian 9, say); without this, pip would pick wheels the runtime cannot load
("GLIBC_2.28 not found"). fclayer puts this file on PYTHONPATH in the build container only.
"""
import os


def _target():
    raw = os.environ.get("FCLAYER_GLIBC", "")
    try:
        major, minor = raw.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


_GLIBC = _target()
_ARCH = os.environ.get("FCLAYER_ARCH") or None


def manylinux_compatible(tag_major, tag_minor, tag_arch):
    if _ARCH is not None and tag_arch != _ARCH:
        return False
    if _GLIBC is None:
        return None
    return (tag_major, tag_minor) <= _GLIBC


# The pre-PEP 600 names, for old pip versions (manylinux1 = glibc 2.5, 2010 = 2.12, 2014 = 2.17).
manylinux1_compatible = _GLIBC is None or (2, 5) <= _GLIBC
manylinux2010_compatible = _GLIBC is None or (2, 12) <= _GLIBC
manylinux2014_compatible = _GLIBC is None or (2, 17) <= _GLIBC
