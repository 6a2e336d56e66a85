#!/bin/sh
# Tools of the fetch image: Python 3 with pip and uv, Node.js with npm. Versions do not matter much:
# pip installs for the target's Python version by flag, and npm 10 (which can target another
# os/cpu) is installed into the download-cache volume on first use (it needs the registry).
set -eu
here=$(dirname "$0")
. "$here/apt-sources.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates python3 python3-pip nodejs npm >/dev/null
rm -rf /var/lib/apt/lists/*
python3 -m pip --version
sh "$here/setup-uv.sh" python3
echo "node $(node --version), npm $(npm --version)"
