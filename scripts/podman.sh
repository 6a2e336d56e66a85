#!/usr/bin/env bash
# Podman engines for the Podman end-to-end tests: a rootful service on a socket of its own and a
# rootless one run by a normal user, each with the local Debian base images in its store.
#
#   scripts/podman.sh rootful    install podman, start `podman system service` on
#                                $FCLAYER_PODMAN_SOCKET (default /run/fclayer-podman.sock), load
#                                the base images; prints the socket's URL on stdout
#   scripts/podman.sh rootless   create the user $FCLAYER_ROOTLESS_USER (default fclayer-rootless),
#                                start its service on $XDG_RUNTIME_DIR/podman/podman.sock and load
#                                the base images into its store; prints the socket's URL, or
#                                exits 1 saying what fails
#
# Idempotent: a service that already answers as Podman is reused, images present are kept.
# Run as root, after scripts/ensure-engine.sh and scripts/base-images.sh (the images are copied
# from Docker's store: `docker save IMAGE | podman load`, which names them localhost/IMAGE).
#
# One setting is needed on these machines: Podman gives containers rlimits above the machine's
# hard limits, and runc then fails every container with "error setting rlimit ... operation not
# permitted". A containers.conf with lower default_ulimits fixes it; the rootful service gets it
# through CONTAINERS_CONF, the rootless user in ~/.config/containers/containers.conf.
set -euo pipefail

what=${1:-rootful}
log() { printf 'podman.sh: %s\n' "$*" >&2; }
IMAGES=(debian:12 debian:11 debian:12-arm64)
SOCKET=${FCLAYER_PODMAN_SOCKET:-/run/fclayer-podman.sock}
ROOTLESS_USER=${FCLAYER_ROOTLESS_USER:-fclayer-rootless}
CONF_DIR=/etc/fclayer-podman
ULIMITS='default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]'

install_podman() {
  # Debian's podman recommends buildah (for /build), uidmap, slirp4netns and fuse-overlayfs
  # (rootless); apt installs recommends by default, named here so a no-recommends apt config
  # cannot drop them.
  local need=()
  for p in podman buildah uidmap slirp4netns; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  [ ${#need[@]} -eq 0 ] && return
  local start=$SECONDS
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
  log "installed in $((SECONDS - start)) s ($(podman --version))"
}

# answers URL: the socket serves the Docker API as Podman (root may connect to any socket).
answers() {
  timeout 10 docker -H "$1" version --format '{{range .Server.Components}}{{.Name}};{{end}}' 2>/dev/null |
    grep -q 'Podman Engine'
}

wait_for() {
  local url=$1 logfile=$2
  for _ in $(seq 1 60); do
    if answers "$url"; then return 0; fi
    sleep 0.5
  done
  log "the Podman service at $url did not answer within 30 s; see $logfile:"
  tail -n 20 "$logfile" >&2
  return 1
}

# load [USER]: copy the base images from Docker's store into Podman's (the user's, rootless).
load_images() {
  local user=${1:-}
  local run=()
  [ -n "$user" ] && run=(runuser -u "$user" -- env HOME="$(home_of "$user")" XDG_RUNTIME_DIR="$(runtime_dir "$user")")
  local start=$SECONDS
  for image in "${IMAGES[@]}"; do
    if (cd / && "${run[@]}" podman image exists "localhost/$image"); then continue; fi
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      log "$image is not in Docker's store (run scripts/base-images.sh first)"
      return 1
    fi
    docker save "$image" | (cd / && "${run[@]}" podman load -q >/dev/null)
    log "loaded $image as localhost/$image${user:+ for $user}"
  done
  log "images ready in $((SECONDS - start)) s"
}

# start_service LOG COMMAND...: run COMMAND in its own session, in /, detached from this script.
# The redirections apply to the whole background subshell, not only to COMMAND: a subshell that
# kept this script's stdout would hold open the pipe of `url=$(scripts/podman.sh rootful)`, and the
# caller would wait for the service to exit (that is, for ever).
start_service() {
  local logfile=$1
  shift
  (cd / && exec setsid "$@") >"$logfile" 2>&1 </dev/null &
}

home_of() { getent passwd "$1" | cut -d: -f6; }
runtime_dir() { echo "/run/user/$(id -u "$1")"; }

rootful() {
  install_podman
  local url="unix://$SOCKET"
  # Written every time: the tests start more services with it (FCLAYER_TEST_PODMAN_CONF).
  mkdir -p "$CONF_DIR"
  printf '[containers]\n%s\n' "$ULIMITS" >"$CONF_DIR/containers.conf"
  if ! answers "$url"; then
    log "starting podman system service on $url (log: /tmp/fclayer-podman.log)"
    start_service /tmp/fclayer-podman.log env CONTAINERS_CONF="$CONF_DIR/containers.conf" \
      podman system service --time=0 "$url"
    wait_for "$url" /tmp/fclayer-podman.log
  fi
  load_images
  echo "$url"
}

rootless() {
  install_podman
  if ! id "$ROOTLESS_USER" >/dev/null 2>&1; then
    # useradd gives the user a subordinate uid/gid range (login.defs SUB_UID_COUNT), which
    # rootless Podman maps into its user namespace.
    useradd -m -s /bin/bash "$ROOTLESS_USER"
    log "created user $ROOTLESS_USER"
  fi
  if ! grep -q "^$ROOTLESS_USER:" /etc/subuid || ! grep -q "^$ROOTLESS_USER:" /etc/subgid; then
    log "$ROOTLESS_USER has no range in /etc/subuid or /etc/subgid: rootless Podman cannot map its user namespace"
    return 1
  fi
  local home run uid
  home=$(home_of "$ROOTLESS_USER")
  uid=$(id -u "$ROOTLESS_USER")
  run=$(runtime_dir "$ROOTLESS_USER")
  # No login session creates the user's runtime folder here (no systemd-logind): make it as
  # logind does, a tmpfs of the user's. It must be a mount of its own: the rootless network
  # namespace (the bridge network every container created through the Docker API gets) re-mounts
  # /run and then binds the runtime folder into it, and with a plain folder that fails with
  # "failed to mount runtime directory for rootless netns: no such file or directory".
  if ! mountpoint -q "$run"; then
    install -d -m 700 -o "$ROOTLESS_USER" -g "$(id -g "$ROOTLESS_USER")" "$run"
    mount -t tmpfs -o "mode=700,uid=$uid,gid=$(id -g "$ROOTLESS_USER"),size=256m" tmpfs "$run"
    log "mounted a tmpfs at $run, as a login session would"
  fi
  local conf="$home/.config/containers"
  install -d -o "$ROOTLESS_USER" -g "$(id -g "$ROOTLESS_USER")" "$home/.config" "$conf"
  printf '[containers]\n%s\n' "$ULIMITS" >"$conf/containers.conf"
  # The kernel mounts overlayfs in a user namespace (5.13 and later). Without this setting Podman
  # 4.3 falls back to vfs here (fuse-overlayfs needs /dev/fuse, which is root's only), and vfs
  # copies every layer for every container.
  printf '[storage]\ndriver = "overlay"\n' >"$conf/storage.conf"
  chown "$ROOTLESS_USER:" "$conf/containers.conf" "$conf/storage.conf"
  # Rootless containers get their network from slirp4netns, which opens /dev/net/tun inside the
  # user's namespace. Debian's udev rule makes that device 0666; on these machines it is 0600
  # (root's), and every container with a network fails with `slirp4netns failed:
  # "open(\"/dev/net/tun\"): Permission denied"`. Give it the usual mode.
  if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    log "/dev/net/tun is $(stat -c %a /dev/net/tun); making it 0666 as udev does, for slirp4netns"
    chmod 0666 /dev/net/tun
  fi
  local url="unix://$run/podman/podman.sock"
  local as=(runuser -u "$ROOTLESS_USER" -- env HOME="$home" XDG_RUNTIME_DIR="$run")
  if ! answers "$url"; then
    # Podman's own check of what the user namespace needs, with its exact error if it fails.
    local out
    if ! out=$(cd / && timeout 120 "${as[@]}" podman info --format '{{.Host.Security.Rootless}} {{.Store.GraphDriverName}}' 2>&1); then
      log "rootless Podman cannot run here: $out"
      return 1
    fi
    log "starting the rootless service of $ROOTLESS_USER (uid $uid) on $url (log: /tmp/fclayer-podman-rootless.log)"
    install -d -m 700 -o "$ROOTLESS_USER" -g "$(id -g "$ROOTLESS_USER")" "$run/podman"
    : >/tmp/fclayer-podman-rootless.log
    chown "$ROOTLESS_USER" /tmp/fclayer-podman-rootless.log
    start_service /tmp/fclayer-podman-rootless.log "${as[@]}" podman system service --time=0 "$url"
    wait_for "$url" /tmp/fclayer-podman-rootless.log
  fi
  load_images "$ROOTLESS_USER"
  # A container must start in the user namespace: the error here is the one a build would hit.
  local out
  if ! out=$(cd / && timeout 300 "${as[@]}" podman run --rm localhost/debian:12 true 2>&1); then
    log "rootless Podman cannot run a container here: $out"
    return 1
  fi
  echo "$url"
}

case "$what" in
  rootful) rootful ;;
  rootless) rootless ;;
  *)
    log "unknown argument $what (expected rootful or rootless)"
    exit 2
    ;;
esac
