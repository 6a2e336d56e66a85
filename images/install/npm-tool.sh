# Sourced by node.sh and node-pm.sh: npm_tool NAME SPEC BIN installs the npm package SPEC (a
# package manager: pnpm@9.15.9, yarn@1.22.22, npm@10.9.2) once into the download cache's tool
# folder NAME, outside /opt and never into the layer, and puts its bin/ first on PATH.
tools=/fclayer-cache/tools
npm_tool() {
  dir=$tools/$1
  if [ ! -x "$dir/bin/$3" ]; then
    echo "fclayer: installing $2 into the download cache"
    rm -rf "$dir.$$"
    npm install -g --prefix "$dir.$$" "$2" --no-audit --no-fund --loglevel=error >/dev/null
    # Another build may have put it there meanwhile: either copy is the same release.
    mv "$dir.$$" "$dir" 2>/dev/null || rm -rf "$dir.$$"
  fi
  PATH="$dir/bin:$PATH"
  export PATH
}
