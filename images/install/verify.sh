#!/bin/sh
# fclayer verify: runs in a container of the runtime's image with networking off and the layer
# unpacked at /opt, with the paths FC sets (PYTHONPATH, NODE_PATH, LD_LIBRARY_PATH, PATH).
# One line per item: "PASS <what> <item>" or "FAIL <what> <item>: <error>".
#   FCLAYER_PYTHON    interpreter for the imports (e.g. python3.9)
#   FCLAYER_IMPORTS   Python modules to import
#   FCLAYER_REQUIRES  Node.js packages to require
#   /fclayer/elf.txt  the layer's ELF files (paths below /opt), one per line
set -u

last_line() { printf '%s\n' "$1" | grep -v '^[[:space:]]*$' | tail -n 1; }

for m in ${FCLAYER_IMPORTS:-}; do
  if out=$("$FCLAYER_PYTHON" -c "import $m" 2>&1); then
    echo "PASS import $m"
  else
    echo "FAIL import $m: $(last_line "$out")"
  fi
done

for p in ${FCLAYER_REQUIRES:-}; do
  if out=$(node -e "require('$p')" 2>&1); then
    echo "PASS require $p"
  elif printf '%s\n' "$out" | grep -q 'ERR_PACKAGE_PATH_NOT_EXPORTED.*No "exports" main defined'; then
    # A package with nothing to require by name (sharp's @img/sharp-linux-x64 exports only its
    # binary's path): its ELF files are loaded below, and whoever requires it is required too.
    echo "PASS require $p (no main export: nothing to require by name)"
  else
    why=$(printf '%s\n' "$out" | grep -m 1 -E '^[A-Za-z]*Error' || last_line "$out")
    echo "FAIL require $p: $why"
  fi
done

# The loader's own check: every library each file needs must be found, in versions it has.
while IFS= read -r f; do
  [ -n "$f" ] || continue
  out=$(ldd "/opt/$f" 2>&1)
  missing=$(printf '%s\n' "$out" | grep 'not found' | sed 's/^[[:space:]]*//' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
  if [ -n "$missing" ]; then
    echo "FAIL load $f: $missing"
  elif printf '%s\n' "$out" | grep -q 'statically linked'; then
    echo "PASS load $f"
  elif printf '%s\n' "$out" | grep -q 'not a dynamic executable'; then
    echo "FAIL load $f: not loadable here (wrong architecture or not a dynamic ELF file)"
  else
    echo "PASS load $f"
  fi
done </fclayer/elf.txt
echo "fclayer: verify done"
