#!/bin/sh
# Build wheels for the target platform, under emulation, for just the requirements that have no
# usable wheel (FCLAYER_WHEELS, one spec per word). Runs in the runtime's build image on the
# target platform; the requirements file's options (--find-links, --index-url, ...) still apply.
# The wheels land in /fclayer/wheels, which fclayer copies into the native install.
set -eu
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PIP_PROGRESS_BAR=off
export PYTHONPATH=/fclayer/hooks
py=$FCLAYER_PYTHON
cd /fclayer/src
reqs=/fclayer/emulated-requirements.txt
grep -E '^[[:space:]]*-' "$FCLAYER_REQUIREMENTS" >"$reqs" || true
for spec in $FCLAYER_WHEELS; do echo "$spec" >>"$reqs"; done
mkdir -p /fclayer/wheels
echo "fclayer: building wheels under emulation for: $FCLAYER_WHEELS"
"$py" -m pip wheel --no-deps --wheel-dir /fclayer/wheels -r "$reqs"
