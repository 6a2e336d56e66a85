# shellcheck shell=bash disable=SC2034
# Helpers shared by run.sh and the section-*.sh benchmark sections. Sourced, never run.
#
# Everything a benchmark installs, builds or writes goes under the work folder $WORK
# (FCLAYER_BENCH_DIR, default ~/.cache/fclayer-bench), never into the repository.
# Containers the bench creates carry the label fclayer-bench.run=$RUN_ID and are removed on exit;
# images it builds carry the label fclayer-bench=1 and are kept for the next run
# (`run.sh clean` removes them and the work folder).

BENCH_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_SCRIPTS/../.." && pwd)
WORK=${FCLAYER_BENCH_DIR:-$HOME/.cache/fclayer-bench}
RUNS=${FCLAYER_BENCH_RUNS:-5}
RUN_ID=${RUN_ID:-$(date +%Y%m%d%H%M%S)-$$}
RESULTS_TSV=$WORK/results.tsv
# A snapshot of the release binary, so a rebuild in the repo during a run cannot change it.
FCLAYER=$WORK/bin/fclayer
CA_BUNDLE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
BENCH_LABEL=fclayer-bench
export DOCKER_BUILDKIT=0 SAM_CLI_TELEMETRY=0
export RUN_ID WORK

log() { printf '\033[1mbench:\033[0m %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# need_cmd CMD [DEBIAN_PACKAGE]: install the package with apt-get when CMD is missing.
need_cmd() {
  local cmd=$1 pkg=${2:-$1}
  if command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ]; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "$cmd is missing; install it: apt-get install -y $pkg"
  log "installing $pkg"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null ||
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; }
}

# The host python (not a pyenv shim: a shim adds tens of ms to every timed start).
host_python() {
  python3 -c 'import sys; print(sys.executable)'
}

# ---------------------------------------------------------------------------------------------
# Results: rows of section, measurement, result, goal, verdict in $RESULTS_TSV; run.sh renders
# them as a markdown table at the end.

result() { # SECTION MEASUREMENT RESULT [GOAL] [VERDICT]
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" >>"$RESULTS_TSV"
  printf '  %-10s %-60s %s %s\n' "$1" "$2" "$3" "${5:+[$5]}" >&2
}

# verdict VALUE OP GOAL -> "met" / "NOT met" (OP: le or ge), numbers as decimals.
verdict() {
  awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN {
    ok = (op == "le") ? (v <= g) : (v >= g)
    print ok ? "met" : "NOT met" }'
}

# div A B [DECIMALS]
div() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, a / b }'; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; } # KiB -> MiB
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }    # bytes -> MB

# hf JSON NAME FIELD: a statistic (mean, stddev, median, min, max, runs) of one command in a
# hyperfine JSON export.
hf() { "$PY" "$BENCH_SCRIPTS/report.py" hf "$@"; }

# hf_cell JSON NAME: "4.197 ± 0.085 s (min 4.010, n=5; CPU 4.05 s)". CPU is user + system time
# of the command itself (containers' work is not in it), less sensitive to a busy machine.
hf_cell() {
  printf '%.3f ± %.3f s (min %.3f, n=%s; CPU %.2f s)' "$(hf "$1" "$2" mean)" "$(hf "$1" "$2" stddev)" \
    "$(hf "$1" "$2" min)" "$(hf "$1" "$2" runs)" "$(hf "$1" "$2" cpu)"
}

# hyperfine with this run's defaults; exports JSON and markdown next to each other.
bench() { # NAME_OF_EXPORT HYPERFINE_ARGS...
  local name=$1
  shift
  mkdir -p "$WORK/hyperfine"
  hyperfine --style basic --export-json "$WORK/hyperfine/$name.json" \
    --export-markdown "$WORK/hyperfine/$name.md" "$@" >&2
}

# What else is running: the bench shares its 2 cores and Docker engine with other work, so the
# table records the load next to the figures.
conditions() {
  local all ours
  all=$(docker ps -q 2>/dev/null | wc -l)
  ours=$(docker ps -q --filter "label=$BENCH_LABEL.run=$RUN_ID" 2>/dev/null | wc -l)
  printf 'loadavg %s, %s other running containers' "$(cut -d' ' -f1 /proc/loadavg)" "$((all - ours))"
}

# ---------------------------------------------------------------------------------------------
# Docker

# Remove the containers this run created (only those: other users share the engine).
cleanup_containers() {
  local ids
  ids=$(docker ps -aq --filter "label=$BENCH_LABEL.run=$RUN_ID" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null 2>&1 || true
  fi
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# A local engine's default bridge must exist on the host, or no container can start. A second
# dockerd started on the same host with --bridge=none deletes it (the engine's own start-up does
# that when the bridge is disabled); say so instead of failing in the middle of a section.
check_bridge() {
  [ -z "${DOCKER_HOST:-}" ] && command -v ip >/dev/null 2>&1 || return 0
  local name subnet
  name=$(docker network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null) || return 0
  [ -n "$name" ] || return 0
  if ! ip link show "$name" >/dev/null 2>&1; then
    subnet=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
    die "the engine's bridge $name ($subnet) is missing on this host, so containers cannot start; a second dockerd started here with --bridge=none removes it. Restart dockerd, or recreate it: ip link add $name type bridge && ip addr add <gateway of $subnet> dev $name && ip link set $name up"
  fi
}

# build_image TAG DOCKERFILE CONTEXT_DIR [BUILD_ARGS...]: docker build, labelled as the bench's.
build_image() {
  local tag=$1 dockerfile=$2 context=$3
  shift 3
  docker build -q --label "$BENCH_LABEL=1" -f "$dockerfile" -t "$tag" "$@" "$context" >/dev/null
}

# Plain Debian 12 + python3 + pip (no CA baked in: mounted at run time). Used for the pack
# section's real tree and for the manual FC procedure in the sam section.
PIP_IMAGE=fclayer-bench/debian12-python-pip:latest
ensure_pip_image() {
  have_image "$PIP_IMAGE" && return 0
  log "building $PIP_IMAGE from debian:12"
  have_image debian:12 || die "debian:12 is missing: run scripts/base-images.sh (make images)"
  build_image "$PIP_IMAGE" "$BENCH_SCRIPTS/pip-image.Dockerfile" "$BENCH_SCRIPTS" --build-arg BASE=debian:12
}

# Arguments for `docker run` that let pip inside verify the TLS-intercepting proxy.
ca_run_args() {
  printf '%s\n' -v "$CA_BUNDLE:/etc/ssl/certs/host-ca.crt:ro" -e PIP_CERT=/etc/ssl/certs/host-ca.crt \
    -e SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt
}
