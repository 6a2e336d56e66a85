#!/bin/sh
# Install package.json's production dependencies for an FC Node.js runtime: npm runs in the
# project's copy (so `file:` dependencies resolve), native addons compile against the build
# image's Node headers, then node_modules moves to /opt/nodejs/node_modules beside package.json
# and the lockfile. Set by fclayer: FCLAYER_NODE_MAJOR (e.g. 16), FCLAYER_NPM_VERSION (the npm
# package.json's packageManager names, if it does); for a pnpm or Yarn project
# FCLAYER_NODE_PM (pnpm, yarn, berry) and the rest of node-pm.sh's settings.
set -eu
if [ -n "${FCLAYER_NODE_BROUGHT:-}" ]; then
  # A custom runtime that brings no Node.js: the function brings its own, of this major; the
  # build image gets it now (Debian's package where the release has this major, else nodejs.org).
  note="$FCLAYER_NODE_BROUGHT has no Node.js: this layer is for Node.js $FCLAYER_NODE_MAJOR, which the function must bring (FC's official Node.js layers put it in /opt/nodejs$FCLAYER_NODE_MAJOR/bin; a custom runtime does not put that on PATH: set PATH and NODE_PATH=/opt/nodejs/node_modules in the function's environment)"
  mkdir -p /fclayer/report
  echo "$note" >>/fclayer/report/node.txt
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)
  if [ "$have" != "$FCLAYER_NODE_MAJOR" ]; then
    echo "fclayer: installing Node.js $FCLAYER_NODE_MAJOR into the build container"
    if ! sh /usr/local/lib/fclayer/setup-node.sh "$FCLAYER_NODE_MAJOR" "$FCLAYER_NODE_FULL"; then
      echo "fclayer: cannot install Node.js $FCLAYER_NODE_MAJOR here: this Debian release has no such package and nodejs.org did not answer; use a base image with Node.js $FCLAYER_NODE_MAJOR (--base-image), or build for a major the release ships (Debian 12: 18) with --node or engines.node" >&2
      exit 1
    fi
  fi
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fclayer: $tool is not in the build image" >&2
    exit 127
  fi
done
have=$(node -p 'process.versions.node.split(".")[0]')
if [ "$have" != "$FCLAYER_NODE_MAJOR" ]; then
  echo "fclayer: the build image has Node.js $have, the runtime runs $FCLAYER_NODE_MAJOR: native addons would not load" >&2
  exit 1
fi
# packageManager: npm@X (FCLAYER_NPM_VERSION): that npm, from the registry, when the image's
# is another (fclayer checked that the runtime's Node.js runs it).
if [ -n "${FCLAYER_NPM_VERSION:-}" ] && [ "$(npm --version)" != "$FCLAYER_NPM_VERSION" ]; then
  . /fclayer/install/npm-tool.sh
  npm_tool "npm-$FCLAYER_NPM_VERSION" "npm@$FCLAYER_NPM_VERSION" npm
fi
npm_major=$(npm --version | cut -d. -f1)
echo "fclayer: node $(node --version), npm $(npm --version)"

cd /fclayer/src
rm -rf node_modules
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# `file:` dependencies are copied in, not linked: a link would point outside the layer.
export npm_config_install_links=true
lockfiles="package-lock.json npm-shrinkwrap.json"
if [ "${FCLAYER_NODE_PM:-npm}" != npm ]; then
  # pnpm and Yarn: node-pm.sh installs into ./node_modules and names its lockfile.
  . /fclayer/install/node-pm.sh
else
  if [ "$npm_major" -ge 8 ]; then omit="--omit=dev"; else omit="--production"; fi
  if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
    npm ci $omit --foreground-scripts
  else
    npm install $omit --foreground-scripts --no-save
  fi
fi

out=/opt/nodejs
mkdir -p "$out"
for f in package.json $lockfiles; do
  if [ -f "$f" ]; then cp "$f" "$out/"; fi
done
if [ -d node_modules ]; then
  mv node_modules "$out/node_modules"
else
  mkdir -p "$out/node_modules"
fi
# npm's own bookkeeping and node-gyp's build leftovers are not needed at run time and differ
# between builds; node_gyp_bins holds links to the build image's python, outside the layer.
rm -f "$out/node_modules/.package-lock.json"
find "$out/node_modules" -type d \( -name .deps -o -name node_gyp_bins \) -prune -exec rm -rf {} +
# Per-platform optional packages for another os, cpu or libc (npm before 10 installs sharp's musl
# binaries beside its glibc ones): removed, each named; the ELF gate still checks what is left.
case "${FCLAYER_ARCH:-x86_64}" in aarch64) cpu=arm64 ;; *) cpu=x64 ;; esac
node /fclayer/install/node-platform.js "$out/node_modules" linux "$cpu" glibc
