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
if [ -n "${FCLAYER_HOLD:-}" ]; then
  # fclayer copies /opt out of this running container, then stops it (SIGTERM). /opt is deleted
  # first, while it is still only in memory: stopping writes a container's files to disk, and
  # deleting written files is what makes removing a stopped container slow. At most an hour.
  trap 'rm -rf /opt; exit 0' TERM
  echo "fclayer: holding /opt for copy-out $FCLAYER_HOLD"
  sleep 3600 &
  wait $!
fi
