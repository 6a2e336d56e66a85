#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, installing and starting one if needed.
#
# Idempotent: an engine that already answers (local socket or DOCKER_HOST) is reused as is.
# On a fresh Debian machine it installs Debian's docker.io (Engine 20.10, API 1.41) and starts
# dockerd in the background, then waits for the API. Also installs the host tools the test
# suite and the base-image bootstrap need (debootstrap, QEMU user emulation, zip/unzip).
set -euo pipefail

log() { printf 'ensure-engine: %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || [ -x /usr/bin/qemu-aarch64 ] || need_pkgs+=(qemu-user-static binfmt-support)
command -v unzip >/dev/null 2>&1 || need_pkgs+=(unzip)
command -v zip >/dev/null 2>&1 || need_pkgs+=(zip)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need_pkgs[*]}; install them (as root: apt-get install -y ${need_pkgs[*]})"
    exit 1
  fi
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# QEMU binfmt handlers: the cross-architecture tests run arm64 containers on this x86_64 host.
if [ "$(id -u)" = 0 ] && [ -d /proc/sys/fs/binfmt_misc ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount binfmt_misc -t binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && command -v update-binfmts >/dev/null 2>&1; then
    update-binfmts --enable >/dev/null 2>&1 || true
  fi
fi

if docker version >/dev/null 2>&1; then
  exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
  log "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST"
  exit 1
fi

log "starting dockerd (log: /tmp/dockerd.log)"
setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if docker version >/dev/null 2>&1; then
    log "engine ready"
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 30 s; see /tmp/dockerd.log:"
tail -n 20 /tmp/dockerd.log >&2
exit 1
