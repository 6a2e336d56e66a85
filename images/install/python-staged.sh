#!/bin/sh
# Cross-platform builds whose fetch image has no interpreter of the runtime's Python version:
# the natively fetched /opt/python was uploaded to /fclayer/stage/python in a container of the
# target's build image (under emulation), and only byte-code is made here. entry.sh moved the
# base image's /opt aside first, which is why the tree waits in /fclayer/stage until now; after
# this, entry.sh compiles it with the target's own pythonX.Y (FCLAYER_BYTECODE=1).
set -eu
mkdir -p /opt
mv /fclayer/stage/python /opt/python
echo "fclayer: /opt/python from the native fetch, $(find /opt/python -name '*.py' | wc -l) source files to compile"
