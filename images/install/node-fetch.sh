#!/bin/sh
# Install package.json's production dependencies for ANOTHER platform without running the
# target's code: npm is told the target's os and cpu (so per-platform optional packages such as
# esbuild's or sharp's binaries are chosen for the target) and runs no install scripts. Runs in the
# fetch image on the engine's own platform. Set by fclayer: FCLAYER_NPM_CPU (x64, arm64).
#
# pnpm and Yarn projects go through node-pm.sh, told the target the same way (pnpm's and Yarn
# berry's supportedArchitectures; Yarn 1 installs every platform's optional packages and the ones
# for another os, cpu or libc are removed afterwards, as for npm).
#
# Packages that must compile or run for the target (a binding.gyp, or an install script calling
# node-gyp, prebuild or similar) are found from what was unpacked; then this exits 75 after
# naming them, and fclayer runs the whole Node.js install under emulation instead: a node_modules
# tree is resolved as a whole, so it cannot be split.
set -eu
cd /fclayer/src
rm -rf node_modules
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export npm_config_install_links=true
lockfiles="package-lock.json npm-shrinkwrap.json"
if [ "${FCLAYER_NODE_PM:-npm}" != npm ]; then
  # pnpm and Yarn: node-pm.sh installs for the target's cpu with no install scripts (or exits 75
  # where the manager's version cannot) and names its lockfile.
  FCLAYER_NODE_CROSS=$FCLAYER_NPM_CPU
  echo "fclayer: node $(node --version), installing for linux/$FCLAYER_NPM_CPU"
  . /fclayer/install/node-pm.sh
else
  # npm 10 can target another os/cpu; it is kept in the download-cache volume between builds.
  npm10=/fclayer-cache/npm10
  if [ ! -x "$npm10/bin/npm" ]; then
    echo "fclayer: installing npm 10 into the download cache"
    npm install -g --prefix "$npm10" npm@10 --no-audit --no-fund >/dev/null
  fi
  export PATH="$npm10/bin:$PATH"
  echo "fclayer: node $(node --version), npm $(npm --version), installing for linux/$FCLAYER_NPM_CPU"
  target="--os=linux --cpu=$FCLAYER_NPM_CPU --libc=glibc"
  if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
    npm ci --omit=dev --ignore-scripts $target
  else
    npm install --omit=dev --ignore-scripts --no-save $target
  fi
fi
[ -d node_modules ] || mkdir node_modules
node -e '
const fs = require("fs"), path = require("path");
const builders = /node-gyp|prebuild|node-pre-gyp|cmake-js|napi-rs|neon/;
const found = [];
function scan(dir) {
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const p = path.join(dir, name);
    if (name === ".pnpm") {
      // The symlinked pnpm layout keeps every package here: NAME@VERSION/node_modules/NAME.
      for (const entry of fs.readdirSync(p)) scan(path.join(p, entry, "node_modules"));
      continue;
    }
    if (name.startsWith(".")) continue;
    if (name.startsWith("@")) { scan(p); continue; }
    const pj = path.join(p, "package.json");
    if (!fs.existsSync(pj)) continue;
    const meta = JSON.parse(fs.readFileSync(pj, "utf8"));
    const scripts = meta.scripts || {};
    const hooks = ["preinstall", "install", "postinstall"].map(k => scripts[k] || "").join(" ");
    if (fs.existsSync(path.join(p, "binding.gyp"))) found.push(`${meta.name} (binding.gyp: a native addon to compile)`);
    else if (builders.test(hooks)) found.push(`${meta.name} (install script: ${hooks.trim()})`);
    scan(path.join(p, "node_modules"));
  }
}
scan("node_modules");
for (const f of found) console.log("fclayer: needs the target platform: " + f);
process.exit(found.length ? 75 : 0);
'
out=/opt/nodejs
mkdir -p "$out"
for f in package.json $lockfiles; do
  if [ -f "$f" ]; then cp "$f" "$out/"; fi
done
mv node_modules "$out/node_modules"
rm -f "$out/node_modules/.package-lock.json"
node /fclayer/install/node-platform.js "$out/node_modules" linux "$FCLAYER_NPM_CPU" glibc
