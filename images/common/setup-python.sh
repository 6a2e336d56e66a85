#!/bin/sh
# Make Python VERSION (e.g. 3.9) available as pythonVERSION, with pip, its headers and a C
# compiler, in a build image. Used by every Python-capable build image.
#
#   setup-python.sh VERSION FULL_VERSION
#
# 1. Nothing to do if the base already has them (FC's official build images do).
# 2. Else from the release's own packages, when VERSION is the release's python3 (Debian 11 has
#    3.9, Debian 12 has 3.11).
# 3. Else from python.org's source release FULL_VERSION, built the way FC builds its runtimes'
#    interpreters (shared libpython, into /usr/local). Needs python.org reachable.
# Then uv, pinned, beside pip (setup-uv.sh).
set -eu
ver=$1
full=$2
here=$(dirname "$0")
. "$here/apt-sources.sh"

have() { command -v "$1" >/dev/null 2>&1; }

if have "python$ver" && "python$ver" -m pip --version >/dev/null 2>&1 && have gcc; then
  echo "fclayer: python$ver with pip and gcc already present"
  sh "$here/setup-uv.sh" "python$ver"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
common="ca-certificates build-essential pkg-config"

default_py=$(apt-cache show python3 2>/dev/null | sed -n 's/^Depends:.*python\([0-9.]*\) (.*/\1/p' | head -n 1)
if [ "$default_py" = "$ver" ]; then
  apt-get install -y -qq --no-install-recommends $common "python$ver" "python$ver-dev" python3-pip python3-venv python3-setuptools python3-wheel >/dev/null
else
  echo "fclayer: this release has no python$ver package; building $full from python.org"
  apt-get install -y -qq --no-install-recommends $common wget libssl-dev zlib1g-dev libffi-dev \
    libbz2-dev libsqlite3-dev liblzma-dev libreadline-dev libncursesw5-dev uuid-dev >/dev/null
  cd /tmp
  wget -q "https://www.python.org/ftp/python/$full/Python-$full.tgz"
  tar xzf "Python-$full.tgz"
  cd "Python-$full"
  ./configure --prefix=/usr/local --enable-shared --with-ensurepip=install LDFLAGS="-Wl,-rpath,/usr/local/lib" >/dev/null
  make -j"$(nproc)" >/dev/null
  make altinstall >/dev/null
  cd / && rm -rf "/tmp/Python-$full" "/tmp/Python-$full.tgz"
fi
rm -rf /var/lib/apt/lists/*
"python$ver" -m pip --version
sh "$here/setup-uv.sh" "python$ver"
