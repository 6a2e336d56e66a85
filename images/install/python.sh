#!/bin/sh
# Install the project's requirements into /opt/python for an FC Python runtime.
# Runs inside the build container; fclayer uploads this script with the project and sets:
#   FCLAYER_PYTHON        interpreter, e.g. python3.9
#   FCLAYER_REQUIREMENTS  requirements file, relative to the project
#   FCLAYER_GLIBC         the runtime's glibc, e.g. 2.24 (caps manylinux wheels, see _manylinux.py)
#   FCLAYER_ARCH          the runtime's machine, e.g. x86_64
#   FCLAYER_LOCKED        1 when the requirements are a lock fclayer converted (complete, pinned,
#                         hashed): installed with --no-deps --require-hashes
set -eu
py=$FCLAYER_PYTHON
out=/opt/python

if ! command -v "$py" >/dev/null 2>&1; then
  echo "fclayer: $py is not in the build image" >&2
  exit 127
fi
# One interpreter start for the check and the versions (`pip --version` alone takes 0.2 s).
versions=$("$py" -c 'import sys
try:
    import pip
except ImportError:
    sys.exit(3)
v = sys.version_info
print("Python %d.%d.%d, pip %s" % (v[0], v[1], v[2], pip.__version__))
print("%d.%d" % (v[0], v[1]))') || {
  echo "fclayer: pip is not installed for $py in the build image" >&2
  exit 127
}
pyver=$(echo "$versions" | tail -n 1)

# The layer's folder must start empty: anything the base image left in /opt is not the layer's.
mkdir -p "$out"

# PEP 600: pip asks _manylinux.manylinux_compatible() before it takes a manylinux wheel. Ours says
# no to wheels built for a newer glibc than the runtime's, so pip picks one the runtime can load.
export PYTHONPATH=/fclayer/hooks
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PIP_PROGRESS_BAR=off

echo "fclayer: $(echo "$versions" | head -n 1), glibc cap $FCLAYER_GLIBC"
locked=""
if [ "${FCLAYER_LOCKED:-}" = 1 ]; then locked="--no-deps --require-hashes"; fi
cd /fclayer/src
# --no-compile: no .pyc in the layer. Byte-code embeds timestamps (so two builds would differ),
#   is specific to the build interpreter's patch level, and FC's /opt is read-only, so Python
#   compiles in memory on import either way.
# --prefer-binary: take the newest version that has a wheel for the runtime rather than compiling
#   a newer sdist; only requirements with no usable wheel at all are built from source.
if [ -n "${PIP_CACHE_DIR:-}" ]; then
  # The download cache: every file pip fetches is kept in a wheelhouse in fclayer's cache volume,
  # and installs come from there, so a second build downloads only what changed. (pip's own HTTP
  # cache depends on the index's cache headers, which proxies often strip.)
  wheelhouse="$PIP_CACHE_DIR/wheelhouse-$pyver"
  mkdir -p "$wheelhouse"
  # Both commands in one interpreter (pip_steps.py): a second pip start costs 0.4-1 s.
  # shellcheck disable=SC2086
  exec "$py" /fclayer/install/pip_steps.py \
    download --prefer-binary $locked --dest "$wheelhouse" -r "$FCLAYER_REQUIREMENTS" :: \
    install --no-compile --prefer-binary $locked --no-index --find-links "$wheelhouse" \
    --target "$out" -r "$FCLAYER_REQUIREMENTS"
fi
# shellcheck disable=SC2086
exec "$py" /fclayer/install/pip_steps.py install --no-compile --prefer-binary $locked --target "$out" \
  -r "$FCLAYER_REQUIREMENTS"
