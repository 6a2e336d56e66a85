#!/usr/bin/env bash
# Create the local Debian base images that the tests (and air-gapped users) build on.
#
# No registry is reachable on our CI machines, so `FROM debian:12` cannot be pulled. Debian's
# package mirror is reachable, so each base is bootstrapped with debootstrap and imported:
#   debian:12        bookworm, linux/amd64   (custom.debian12; stand-in for Debian 12 runtimes)
#   debian:11        bullseye, linux/amd64   (python3.12 / custom.debian11 release; ships Python 3.9)
#   debian:12-arm64  bookworm, linux/arm64   (cross-architecture tests; built under QEMU)
# Debian 9 and 10 are not on the reachable mirror, so their images are built only on machines
# that can pull them. Idempotent: an image that exists is kept.
#
# usage: scripts/base-images.sh [amd64|arm64|all]   (default: all)
set -euo pipefail

what=${1:-all}
log() { printf 'base-images: %s\n' "$*" >&2; }

mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources | head -n 1)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1=="deb" {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

# bootstrap SUITE ARCH TAG
bootstrap() {
  local suite=$1 arch=$2 tag=$3
  if have "$tag"; then
    log "$tag present"
    return
  fi
  local dir
  dir=$(mktemp -d /tmp/fclayer-rootfs.XXXXXX)
  trap 'rm -rf "$dir"' RETURN
  log "debootstrap $suite ($arch) -> $tag"
  local start=$SECONDS
  if ! debootstrap --arch="$arch" --variant=minbase "$suite" "$dir/rootfs" "$(mirror)" >"$dir/log" 2>&1; then
    tail -n 30 "$dir/log" >&2
    log "debootstrap of $suite ($arch) failed"
    return 1
  fi
  # Drop the apt lists and caches debootstrap leaves: smaller image, same behaviour.
  rm -rf "$dir/rootfs/var/cache/apt/archives/"*.deb "$dir/rootfs/var/lib/apt/lists/"*
  if [ "$arch" = amd64 ]; then
    tar -C "$dir/rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  else
    # `docker import` on Engine 20.10 records the host architecture whatever --platform says,
    # so a FROM scratch build with an explicit platform records the real one.
    tar -C "$dir/rootfs" -cf "$dir/rootfs.tar" .
    rm -rf "$dir/rootfs"
    printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' >"$dir/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q --platform "linux/$arch" -t "$tag" "$dir" >/dev/null
  fi
  log "$tag ready in $((SECONDS - start)) s"
}

case "$what" in
  amd64 | all)
    bootstrap bookworm amd64 debian:12
    bootstrap bullseye amd64 debian:11
    ;;&
  arm64 | all)
    if [ "$what" != amd64 ]; then bootstrap bookworm arm64 debian:12-arm64; fi
    ;;
  amd64) ;;
  *)
    log "unknown argument $what (expected amd64, arm64 or all)"
    exit 2
    ;;
esac
