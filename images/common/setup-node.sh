#!/bin/sh
# Make Node.js MAJOR (node and npm) available in a build image, with everything node-gyp needs to
# compile native addons without downloading anything: a C/C++ toolchain, a Python that this
# npm's node-gyp accepts, and the Node headers.
#
#   setup-node.sh MAJOR FULL_VERSION
#
# 1. Nothing to do for node/npm if the base has Node MAJOR (FC's official build images do).
# 2. Else from the release's packages when they carry Node MAJOR (Debian 12 has 18, Debian 11 12).
# 3. Else the nodejs.org release FULL_VERSION into /usr/local (needs nodejs.org reachable).
# Debian 9's Python is 3.5, and the node-gyp of npm 7+ (Node 16) needs 3.6+: there, Python 3.9 is
# built too and npm is pointed at it. npm 5/6 (Node 8, 10) get Python 2.7.
set -eu
major=$1
full=$2
here=$(dirname "$0")
. "$here/apt-sources.sh"

have() { command -v "$1" >/dev/null 2>&1; }
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

pkgs="ca-certificates build-essential"
if [ "$(node_major)" = "$major" ] && have npm; then
  echo "fclayer: node $(node --version) and npm $(npm --version) already present"
  from=base
else
  candidate=$(apt-cache policy nodejs 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9]*\)\..*/\1/p' | head -n 1)
  if [ "$candidate" = "$major" ]; then
    pkgs="$pkgs nodejs npm"
    from=apt
  else
    pkgs="$pkgs wget xz-utils"
    from=nodejs.org
  fi
fi
if [ "$major" -le 10 ]; then
  pkgs="$pkgs python2.7"
else
  pkgs="$pkgs python3"
fi
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null

npmrc=/usr/local/etc/npmrc
mkdir -p /usr/local/etc
if [ "$from" = nodejs.org ]; then
  echo "fclayer: this release has no Node.js $major package; installing $full from nodejs.org"
  cd /tmp
  wget -q "https://nodejs.org/dist/v$full/node-v$full-linux-x64.tar.xz"
  tar -xJf "node-v$full-linux-x64.tar.xz" -C /usr/local --strip-components=1 --no-same-owner
  rm -f "node-v$full-linux-x64.tar.xz"
  # The tarball carries the headers: node-gyp must use them, not download them.
  echo "nodedir=/usr/local" >>"$npmrc"
fi

# Debian's node-gyp links every addon against Debian's shared libnode.so (its addon.gypi adds
# -lnode). FC runs the official node binary, which is static and has no libnode, so such an
# addon fails to load there. Build addons the upstream way: node's symbols resolve from the
# process that loads them, whichever node that is.
for gypi in /usr/share/nodejs/node-gyp/addon.gypi /usr/lib/node_modules/npm/node_modules/node-gyp/addon.gypi; do
  if [ -f "$gypi" ] && grep -q "'-lnode'" "$gypi"; then
    sed -i "/'-lnode'/d" "$gypi"
  fi
done

# A Python this npm's node-gyp accepts.
if [ "$major" -le 10 ]; then
  echo "python=$(command -v python2.7)" >>"$npmrc"
else
  pyok=$(python3 -c 'import sys; print(int(sys.version_info >= (3, 6)))' 2>/dev/null || echo 0)
  if [ "$pyok" != 1 ]; then
    sh "$here/setup-python.sh" 3.9 3.9.8
    echo "python=/usr/local/bin/python3.9" >>"$npmrc"
  fi
fi
# npm reads the global npmrc from its own prefix; Debian's npm from /etc/npmrc.
if [ -s "$npmrc" ] && [ -d /etc ]; then cat "$npmrc" >>/etc/npmrc; fi
rm -rf /var/lib/apt/lists/*
echo "fclayer: node $(node --version), npm $(npm --version)"
