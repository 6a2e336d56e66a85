#!/bin/sh
# First thing in every build container, then the installers named in "$@", in order:
# - make the CA bundle the installers' TLS uses: the image's own roots plus the user's extra CA
#   (uploaded as /fclayer/ca.crt, never into /opt), so public and intercepted TLS both verify;
# - move aside whatever the base image keeps in /opt: the layer is only what this build installs.
set -eu
if [ -f /fclayer/ca.crt ]; then
  for roots in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -f "$roots" ]; then cat "$roots"; fi
  done >/fclayer/ca-bundle.crt
  cat /fclayer/ca.crt >>/fclayer/ca-bundle.crt
fi
# The logins of a lock's private indexes, for pip and uv (both read NETRC); never in /opt.
if [ -n "${FCLAYER_NETRC:-}" ]; then
  (umask 077 && printf '%s' "$FCLAYER_NETRC" >/fclayer/netrc)
  export NETRC=/fclayer/netrc
  unset FCLAYER_NETRC
fi
# A lock's plain-http indexes: pip ignores them unless trusted (python.sh hands uv the same).
if [ -n "${FCLAYER_TRUSTED_HOSTS:-}" ]; then
  export PIP_TRUSTED_HOST="${PIP_TRUSTED_HOST:+$PIP_TRUSTED_HOST }$FCLAYER_TRUSTED_HOSTS"
fi
if [ -d /opt ] && [ -n "$(ls -A /opt 2>/dev/null)" ]; then
  echo "fclayer: moving the base image's /opt aside (it is not part of the layer)"
  mkdir -p /var/tmp/fclayer-base-opt
  mv /opt/* /opt/.[!.]* /var/tmp/fclayer-base-opt/ 2>/dev/null || true
fi
mkdir -p /opt
# Reproducible builds: compilers stamp SOURCE_DATE_EPOCH instead of the clock (1980-01-01 unless
# the user set one), and gyp and other Python tools write sets in a fixed order.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}" PYTHONHASHSEED=0
for kind in "$@"; do
  # fclayer reads this line back to name the installer that failed.
  echo "fclayer: running $kind"
  sh "/fclayer/install/$kind.sh"
done
# After every installer: --slim's rules on the whole of /opt, then byte-code for what is left
# (nothing is compiled that --slim removes). Both run with the runtime's interpreter where the
# layer has Python (its cache tag and magic number are the runtime's); slim.py alone needs only
# some Python 3, which every build image has (node-gyp needs one too).
py=${FCLAYER_PYTHON:-python3}
if [ -d /opt/python ] && ! command -v "$py" >/dev/null 2>&1; then py=""; fi
if [ "${FCLAYER_SLIM:-0}" = 1 ] && [ -n "$(ls -A /opt 2>/dev/null)" ]; then
  slim_py=$py
  [ -n "$slim_py" ] && command -v "$slim_py" >/dev/null 2>&1 || slim_py=python3
  tag=""
  if [ -d /opt/python ] && [ -n "$py" ]; then
    tag=$("$py" -c 'import sys; print(sys.implementation.cache_tag)')
  fi
  echo "fclayer: slimming /opt"
  "$slim_py" /fclayer/install/slim.py /opt "$tag"
fi
if [ "${FCLAYER_BYTECODE:-0}" = 1 ] && [ -d /opt/python ]; then
  if [ -n "$py" ] && [ "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "${FCLAYER_PYVER:-}" ]; then
    echo "fclayer: compiling byte-code"
    "$py" /fclayer/install/bytecode.py /opt/python
  else
    # The cross-platform fetch image has no interpreter of the runtime's version: fclayer
    # compiles in the target's build image instead (it reads this line).
    echo "fclayer: byte-code: deferred (no Python ${FCLAYER_PYVER:-} here)"
  fi
fi
if [ -n "${FCLAYER_HOLD:-}" ]; then
  # fclayer copies /opt out of this running container, then stops it (SIGTERM). /opt is deleted
  # first, while it is still only in memory: stopping writes a container's files to disk, and
  # deleting written files is what makes removing a stopped container slow. At most an hour.
  # A memory-backed /opt (FCLAYER_OPT_IN_MEMORY) goes with the container: nothing to delete.
  trap 'if [ -z "${FCLAYER_OPT_IN_MEMORY:-}" ]; then rm -rf /opt; fi; exit 0' TERM
  echo "fclayer: holding /opt for copy-out $FCLAYER_HOLD"
  sleep 3600 &
  wait $!
fi
