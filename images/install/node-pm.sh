# Sourced by node.sh in the project's copy (/fclayer/src) for a pnpm or Yarn project: installs
# the package manager from the npm registry into the download cache (outside /opt, never into the
# layer), then the production dependencies, frozen to the lockfile, into ./node_modules, and sets
# $lockfiles to the lockfile that goes beside package.json. fclayer checked the project before
# the container started (which manager, its version, that the runtime's Node.js runs it).
# Set by fclayer: FCLAYER_NODE_PM (pnpm, yarn, berry), FCLAYER_NODE_PM_VERSION (9.15.9, or a
# major such as 9 that npm resolves), FCLAYER_PNPM_LINKER (hoisted, or isolated when the
# project's own pnpm settings ask for the symlinked layout).
#
# Corepack would read packageManager itself, but Debian's Node.js 18 has none, FC's nodejs14
# predates it and it fetches Yarn 2+ from repo.yarnpkg.com rather than the npm registry: npm
# itself is the one route that works wherever npm does.

# FCLAYER_NODE_CROSS (set by node-fetch.sh): the target's cpu (arm64, x64) when this runs on
# another platform than the layer's: packages are chosen for linux/that cpu/glibc and no install
# script runs; a manager that cannot choose for another platform exits 75 (fclayer then installs
# under emulation).
cross=${FCLAYER_NODE_CROSS:-}

. /fclayer/install/npm-tool.sh

# Whether version $1 is at least $2 (both x.y.z).
at_least() {
  node -e 'const [a, b] = process.argv.slice(1).map(v => v.split(".").map(n => parseInt(n, 10) || 0));
for (let i = 0; i < 3; i++) if (a[i] !== b[i]) process.exit(a[i] > b[i] ? 0 : 1);' "$1" "$2"
}
needs_target() {
  echo "fclayer: needs the target platform: $1"
  exit 75
}

version=$FCLAYER_NODE_PM_VERSION
case "$FCLAYER_NODE_PM" in
pnpm)
  npm_tool "pnpm-$version" "pnpm@$version" pnpm
  pnpm_version=$(pnpm --version)
  echo "fclayer: pnpm $pnpm_version, node-linker=$FCLAYER_PNPM_LINKER"
  target=""
  if [ -n "$cross" ]; then
    # pnpm 10.14 takes the target on the command line; 8.10 to 10.13 read it from package.json's
    # pnpm.supportedArchitectures (the layer keeps the project's own package.json: node-fetch.sh
    # copies it from here, so it is put back below); earlier ones install for their own platform.
    if at_least "$pnpm_version" 10.14.0; then
      target="--os=linux --cpu=$cross --libc=glibc"
    elif at_least "$pnpm_version" 8.10.0; then
      cp package.json /fclayer/package.json.project
      node -e 'const fs = require("fs"); const p = JSON.parse(fs.readFileSync("package.json", "utf8"));
p.pnpm = Object.assign({}, p.pnpm, {supportedArchitectures: {os: ["linux"], cpu: [process.argv[1]], libc: ["glibc"]}});
fs.writeFileSync("package.json", JSON.stringify(p, null, 2) + "\n");' "$cross"
    else
      needs_target "pnpm $pnpm_version installs packages for the platform it runs on (8.10 and later can choose another)"
    fi
    target="$target --ignore-scripts"
  fi
  # Copies, not hard links into the store: the store is in the cache volume, the layer must
  # hold the files themselves. No side-effects cache: with it, a warm store hands back packages
  # as their install scripts left them, with links made into files (a .bin link became a copy),
  # so the layer's bytes would depend on what an earlier build left in the cache. The store's
  # name carries a number: a store some earlier build filled with side effects is not reused.
  pnpm install --frozen-lockfile --prod --reporter=append-only \
    --config.node-linker="$FCLAYER_PNPM_LINKER" --config.package-import-method=copy \
    --config.side-effects-cache=false \
    --config.confirmModulesPurge=false --store-dir=/fclayer-cache/pnpm-store-1 $target
  if [ -f /fclayer/package.json.project ]; then mv /fclayer/package.json.project package.json; fi
  lockfiles="pnpm-lock.yaml"
  # pnpm's bookkeeping: the hoisted layout's .pnpm holds only its lock copy; the symlinked
  # layout's .pnpm holds the packages themselves and stays.
  rm -f node_modules/.modules.yaml node_modules/.pnpm-workspace-state.json node_modules/.pnpm/lock.yaml
  if [ "$FCLAYER_PNPM_LINKER" = hoisted ]; then rm -rf node_modules/.pnpm; fi
  ;;
yarn)
  npm_tool "yarn-$version" "yarn@$version" yarn
  echo "fclayer: yarn $(yarn --version)"
  # For another platform, Yarn 1 (which knows only its own) installs every platform's optional
  # packages; node-fetch.sh then removes those for another os, cpu or libc, naming each.
  target=""
  if [ -n "$cross" ]; then target="--ignore-platform --ignore-scripts"; fi
  yarn install --frozen-lockfile --production --non-interactive --no-progress \
    --cache-folder /fclayer-cache/yarn --network-timeout 300000 $target
  lockfiles="yarn.lock"
  rm -f node_modules/.yarn-integrity
  ;;
berry)
  npm_tool "yarn-berry-$version" "@yarnpkg/cli-dist@$version" yarn
  # Berry reads none of npm's settings: the proxy, the CA bundle and the registry are handed
  # over in its own names (the CA is the one entry.sh made, never copied into the layer).
  export YARN_ENABLE_TELEMETRY=0 YARN_ENABLE_PROGRESS_BARS=0 YARN_ENABLE_IMMUTABLE_INSTALLS=1
  export YARN_ENABLE_GLOBAL_CACHE=0 YARN_CACHE_FOLDER=/fclayer-cache/yarn-berry
  export YARN_GLOBAL_FOLDER=/fclayer-cache/yarn-berry-global
  if [ -n "${npm_config_cafile:-}" ]; then export YARN_HTTPS_CA_FILE_PATH="$npm_config_cafile"; fi
  proxy=${HTTPS_PROXY:-${https_proxy:-}}
  if [ -n "$proxy" ]; then export YARN_HTTPS_PROXY="$proxy"; fi
  proxy=${HTTP_PROXY:-${http_proxy:-}}
  if [ -n "$proxy" ]; then export YARN_HTTP_PROXY="$proxy"; fi
  registry=${npm_config_registry:-${NPM_CONFIG_REGISTRY:-}}
  if [ -n "$registry" ]; then export YARN_NPM_REGISTRY_SERVER="$registry"; fi
  echo "fclayer: yarn $(yarn --version)"
  if [ -n "$cross" ]; then
    # Berry reads the target from .yarnrc.yml (this copy of it; it is never in the layer).
    if grep -q '^supportedArchitectures:' .yarnrc.yml 2>/dev/null; then
      needs_target "the project's .yarnrc.yml sets supportedArchitectures itself"
    fi
    printf '\nsupportedArchitectures:\n  os: [linux]\n  cpu: [%s]\n  libc: [glibc]\n' "$cross" >>.yarnrc.yml
    export YARN_ENABLE_SCRIPTS=0
  fi
  # Yarn 2+ dropped `install --production`; focusing every workspace with --production is its
  # production install (built in from Yarn 4).
  yarn workspaces focus --all --production
  # Not .yarnrc.yml: it may hold registry tokens.
  lockfiles="yarn.lock"
  rm -f node_modules/.yarn-state.yml
  ;;
*)
  echo "fclayer: unknown package manager $FCLAYER_NODE_PM" >&2
  exit 2
  ;;
esac
