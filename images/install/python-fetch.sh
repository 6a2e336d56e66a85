#!/bin/sh
# Install requirements.txt into /opt/python for ANOTHER platform, from wheels only, without
# running the target's code. Runs in the fetch image on the engine's own platform. Set by fclayer:
#   FCLAYER_TARGET_PLATFORMS  pip platform tags the runtime accepts (manylinux_2_36_aarch64 ...)
#   FCLAYER_PYVER             the runtime's Python version (3.11)
#   FCLAYER_REQUIREMENTS      requirements file, relative to the project
#   FCLAYER_LOCKED            1 for a lock fclayer converted: --no-deps --require-hashes
# Wheels built for the target under emulation (for requirements with no wheel) are uploaded to
# /fclayer/wheels and found there. A requirement with no usable wheel makes pip fail with
# "No matching distribution found for SPEC": fclayer reads that line and builds SPEC's wheel.
set -eu
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore PIP_PROGRESS_BAR=off
export PIP_BREAK_SYSTEM_PACKAGES=1
platforms=""
for t in $FCLAYER_TARGET_PLATFORMS; do platforms="$platforms --platform $t"; done
abi="cp$(echo "$FCLAYER_PYVER" | tr -d .)"
links=""
locked=""
if [ "${FCLAYER_LOCKED:-}" = 1 ]; then locked="--no-deps --require-hashes"; fi
if [ -d /fclayer/wheels ]; then links="--find-links /fclayer/wheels"; fi
mkdir -p /opt/python
cd /fclayer/src
echo "fclayer: pip $(python3 -c 'import pip; print(pip.__version__)') installing for CPython $FCLAYER_PYVER on $(echo "$FCLAYER_TARGET_PLATFORMS" | cut -d' ' -f1) and older, wheels only"
# shellcheck disable=SC2086
python3 /fclayer/install/pip_steps.py install --no-compile --target /opt/python --only-binary=:all: $platforms \
  --implementation cp --python-version "$FCLAYER_PYVER" --abi "$abi" --abi abi3 --abi none \
  $links $locked -r "$FCLAYER_REQUIREMENTS"
echo "fclayer: installed $(ls -d /opt/python/*.dist-info 2>/dev/null | wc -l) distributions for the target"
