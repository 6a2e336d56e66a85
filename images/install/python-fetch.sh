#!/bin/sh
# Install requirements.txt into /opt/python for ANOTHER platform, from wheels only, without
# running the target's code. Runs in the fetch image on the engine's own platform. Set by fclayer:
#   FCLAYER_INSTALLER         uv or pip
#   FCLAYER_TARGET_PLATFORMS  pip platform tags the runtime accepts (manylinux_2_36_aarch64 ...)
#   FCLAYER_UV_PLATFORM       uv's one platform for the same (aarch64-manylinux_2_36)
#   FCLAYER_PYVER             the runtime's Python version (3.11)
#   FCLAYER_REQUIREMENTS      requirements file, relative to the project (or absolute)
#   FCLAYER_LOCKED            1: a complete, hashed lock (--no-deps --require-hashes)
# Wheels built for the target under emulation (for requirements with no wheel) are uploaded to
# /fclayer/wheels and found there. A requirement with no usable wheel makes pip fail with
# "No matching distribution found for SPEC" (uv: "SPEC has no usable wheels"): fclayer reads
# that line and builds SPEC's wheel.
set -eu
locked=""
if [ "${FCLAYER_LOCKED:-0}" = 1 ]; then locked="--no-deps --require-hashes"; fi
if [ "${FCLAYER_INSTALLER:-pip}" = uv ]; then
  links=""
  if [ -d /fclayer/wheels ]; then links="--find-links /fclayer/wheels"; fi
  if [ -z "${SSL_CERT_FILE:-}" ]; then export UV_SYSTEM_CERTS=1; fi
  export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
  # pip's index settings, which uv does not read (python.sh reads pip.conf too; the fetch image
  # has none of its own).
  if [ -n "${PIP_INDEX_URL:-}" ]; then export UV_DEFAULT_INDEX="$PIP_INDEX_URL"; fi
  if [ -n "${PIP_EXTRA_INDEX_URL:-}" ]; then export UV_INDEX="$PIP_EXTRA_INDEX_URL"; fi
  mkdir -p /opt/python
  cd /fclayer/src
  echo "fclayer: $(uv --version) installing for CPython $FCLAYER_PYVER on $FCLAYER_UV_PLATFORM, wheels only"
  # The fetch image's python3 only runs uv's resolver; --python-version and --python-platform
  # make every choice the target's.
  # shellcheck disable=SC2086
  uv pip install --target /opt/python --python python3 --python-version "$FCLAYER_PYVER" \
    --python-platform "$FCLAYER_UV_PLATFORM" --only-binary :all: --link-mode copy $locked $links \
    -r "$FCLAYER_REQUIREMENTS"
  rm -f /opt/python/.lock
  echo "fclayer: installed $(ls -d /opt/python/*.dist-info 2>/dev/null | wc -l) distributions for the target"
  exit 0
fi
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
  $locked $links -r "$FCLAYER_REQUIREMENTS"
echo "fclayer: installed $(ls -d /opt/python/*.dist-info 2>/dev/null | wc -l) distributions for the target"
