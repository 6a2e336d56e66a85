#!/bin/sh
# Install the project's requirements into /opt/python for an FC Python runtime, with uv or pip.
# Runs inside the build container; fclayer uploads this script with the project and sets:
#   FCLAYER_PYTHON        interpreter, e.g. python3.9
#   FCLAYER_REQUIREMENTS  requirements file, relative to the project (or absolute)
#   FCLAYER_GLIBC         the runtime's glibc, e.g. 2.24 (caps manylinux wheels, see _manylinux.py)
#   FCLAYER_ARCH          the runtime's machine, e.g. x86_64
#   FCLAYER_INSTALLER     uv or pip
#   FCLAYER_UV_PLATFORM   uv's --python-platform for the runtime, e.g. x86_64-manylinux_2_17
#   FCLAYER_LOCKED        1: the requirements are a complete, hashed lock (--no-deps --require-hashes)
set -eu
py=$FCLAYER_PYTHON
out=/opt/python
installer=${FCLAYER_INSTALLER:-pip}

if ! command -v "$py" >/dev/null 2>&1; then
  echo "fclayer: $py is not in the build image" >&2
  exit 127
fi
if [ "$installer" = uv ] && ! command -v uv >/dev/null 2>&1; then
  echo "fclayer: uv is not in the build image (images/common/setup-uv.sh puts it there); --installer pip builds with pip" >&2
  exit 127
fi
# One interpreter start for the check, the versions and pip's index settings (`pip --version`
# alone takes 0.2 s). uv reads neither pip.conf nor PIP_* variables, so the index that pip would
# use (environment first, then the config files in pip's order of precedence) is handed to uv.
versions=$("$py" -c 'import os, sys
try:
    import pip
except ImportError:
    if sys.argv[1] == "pip":
        sys.exit(3)
    pip = None
v = sys.version_info
print("Python %d.%d.%d, pip %s" % (v[0], v[1], v[2], pip.__version__ if pip else "none"))
print("%d.%d" % (v[0], v[1]))
if sys.argv[1] != "uv":
    sys.exit(0)
try:
    import configparser
except ImportError:
    sys.exit(0)
conf = configparser.RawConfigParser()
home = os.path.expanduser("~")
files = ["/etc/xdg/pip/pip.conf", "/etc/pip.conf", os.path.join(home, ".pip", "pip.conf"),
         os.path.join(home, ".config", "pip", "pip.conf")]
if os.environ.get("PIP_CONFIG_FILE"):
    files.append(os.environ["PIP_CONFIG_FILE"])
try:
    conf.read(files)
except configparser.Error:
    pass
def setting(key):
    env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
    if env:
        return env
    for section in ("install", "global"):
        if conf.has_option(section, key):
            return " ".join(conf.get(section, key).split())
    return ""
for key in ("index-url", "extra-index-url", "trusted-host"):
    print("%s=%s" % (key, setting(key)))' "$installer") || {
  echo "fclayer: pip is not installed for $py in the build image" >&2
  exit 127
}
pyver=$(echo "$versions" | sed -n 2p)

# The layer's folder must start empty: anything the base image left in /opt is not the layer's.
mkdir -p "$out"
cd /fclayer/src

# A lock (FCLAYER_LOCKED=1) is the whole set, pinned and hashed: nothing is resolved beyond it.
locked=""
if [ "${FCLAYER_LOCKED:-0}" = 1 ]; then locked="--no-deps --require-hashes"; fi

if [ "$installer" = uv ]; then
  setting() { echo "$versions" | sed -n "s/^$1=//p"; }
  index=$(setting index-url)
  extra=$(setting extra-index-url)
  trusted=$(setting trusted-host)
  if [ -n "$index" ]; then export UV_DEFAULT_INDEX="$index"; fi
  if [ -n "$extra" ]; then export UV_INDEX="$extra"; fi
  if [ -n "$trusted" ]; then export UV_INSECURE_HOST="$trusted"; fi
  # TLS: the bundle fclayer made (the image's roots plus the user's CA) when it passed one, else
  # the system's store (where FC images and corporate machines put their CAs), never only uv's
  # own bundled roots.
  if [ -z "${SSL_CERT_FILE:-}" ]; then export UV_SYSTEM_CERTS=1; fi
  # Never download an interpreter: the layer is for the runtime's own.
  export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
  echo "fclayer: $(uv --version), $(echo "$versions" | head -n 1 | cut -d, -f1), for $FCLAYER_UV_PLATFORM${index:+, index $index}"
  # --python-platform/--python-version: the runtime's, never the build image's (a Debian 11 image
  #   building for Debian 9 must not take manylinux_2_28 wheels; uv would detect 2.31 itself).
  # --link-mode copy: real files in /opt/python, not links into the cache volume.
  # No byte-code from uv (its default): entry.sh compiles reproducible byte-code afterwards.
  # shellcheck disable=SC2086
  uv pip install --target "$out" --python "$py" --python-version "$pyver" \
    --python-platform "$FCLAYER_UV_PLATFORM" --link-mode copy $locked -r "$FCLAYER_REQUIREMENTS"
  # uv's own lock file for the target folder: not part of the layer.
  rm -f "$out/.lock"
  exit 0
fi

# PEP 600: pip asks _manylinux.manylinux_compatible() before it takes a manylinux wheel. Ours says
# no to wheels built for a newer glibc than the runtime's, so pip picks one the runtime can load.
export PYTHONPATH=/fclayer/hooks
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PIP_PROGRESS_BAR=off

echo "fclayer: $(echo "$versions" | head -n 1), glibc cap $FCLAYER_GLIBC"
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
