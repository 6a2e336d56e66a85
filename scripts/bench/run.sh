#!/usr/bin/env bash
# fclayer benchmarks: each section compares fclayer with a baseline measured in the same run and
# reports ratios (never timed assertions); goals that are not met are said so in the table.
#
#   scripts/bench/run.sh              every section present (section-*.sh beside this file)
#   scripts/bench/run.sh pack sam     only these sections, in this order
#   scripts/bench/run.sh list         the sections
#   scripts/bench/run.sh clean        remove the work folder and the images the bench built
#
# Sections: pack (fclayer pack vs zip -r / python zipfile, RSS, threads), sam (fclayer build vs
# AWS SAM CLI's `sam build --use-container` + SAM's zipper), uv (cold builds with uv vs pip vs
# SAM; the arm64 native fetch with uv vs --emulate), coldstart (cold import time from a
# read-only /opt with and without byte-code and vs SAM's layer; layer sizes with --slim). Each
# section file's header says what it measures and how.
#
# Needs: a Docker engine (`make bench` starts one and makes the local base images first),
# hyperfine and /usr/bin/time (installed with apt-get when missing), the release binary (built
# with cargo when missing; a copy is taken at the start, so a rebuild during the run changes
# nothing). Everything installed, built or written goes to the work folder
# ${FCLAYER_BENCH_DIR:-$HOME/.cache/fclayer-bench}; the table is printed at the end and written
# to results.md there. Containers the run creates are removed when it ends, however it ends.
#
# Environment: FCLAYER_BENCH_DIR (work folder), FCLAYER_BENCH_RUNS (hyperfine runs, default 5),
# FCLAYER_BENCH_LARGE_RUNS (3), FCLAYER_BENCH_LARGE_MB (300), FCLAYER_BENCH_PERF=1 (perf profile
# of a pack), FCLAYER_BENCH_IMAGE_BUILD=0 (skip timing fclayer's one-time build-image build),
# FCLAYER_BENCH_SAM_VERSION (pin aws-sam-cli on first install), FCLAYER_BENCH_BINARY (the fclayer
# binary to measure instead of target/release/fclayer).
set -euo pipefail

# shellcheck source=scripts/bench/lib.sh
source "$(dirname "$0")/lib.sh"

sections_present() {
  local f
  for f in "$BENCH_SCRIPTS"/section-*.sh; do
    f=${f##*/section-}
    echo "${f%.sh}"
  done
}

# Internal: run one section in its own process, so `set -e` holds inside it even though the
# caller goes on to the next section when it fails.
if [ "${1:-}" = __section ]; then
  # shellcheck source=/dev/null
  source "$BENCH_SCRIPTS/section-$2.sh"
  check_bridge
  section_main
  exit 0
fi

case "${1:-}" in
  list)
    sections_present
    exit 0
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  clean)
    if docker version >/dev/null 2>&1; then
      ids=$(docker images -q --filter "label=$BENCH_LABEL=1" | sort -u)
      for id in $ids; do
        for tag in $(docker image inspect -f '{{join .RepoTags " "}}' "$id"); do
          docker rmi "$tag" >/dev/null && log "removed image $tag"
        done
      done
    fi
    case "$(cd "$WORK" 2>/dev/null && pwd)" in
      / | "$HOME") die "refusing to remove $WORK" ;;
    esac
    rm -rf "$WORK"
    log "removed $WORK"
    exit 0
    ;;
esac

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
  mapfile -t wanted < <(sections_present)
fi
for s in "${wanted[@]}"; do
  [ -f "$BENCH_SCRIPTS/section-$s.sh" ] || die "no section '$s' (sections: $(sections_present | tr '\n' ' '))"
done

mkdir -p "$WORK/bin"
exec 2> >(tee "$WORK/log.txt" >&2)
trap cleanup_containers EXIT
trap 'exit 130' INT TERM

# Tools.
need_cmd hyperfine
need_cmd /usr/bin/time time
need_cmd python3
PY=$(host_python)
export PY
if ! docker version >/dev/null 2>&1; then
  "$REPO/scripts/ensure-engine.sh"
fi
check_bridge
have_image debian:12 || "$REPO/scripts/base-images.sh" amd64

# The binary under test, copied so that a rebuild in the repo during the run does not change it.
binary=${FCLAYER_BENCH_BINARY:-$REPO/target/release/fclayer}
if [ -z "${FCLAYER_BENCH_BINARY:-}" ] && [ ! -x "$binary" ]; then
  log "building the release binary"
  (cd "$REPO" && cargo build --release --locked)
fi
cp "$binary" "$FCLAYER.tmp"
mv "$FCLAYER.tmp" "$FCLAYER"

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  commit="$commit + uncommitted changes in src/"
fi
: >"$RESULTS_TSV"
cat >"$WORK/results-header.md" <<EOF
# fclayer benchmark results

- Run $RUN_ID, $(date -u '+%Y-%m-%d %H:%M UTC'); sections: ${wanted[*]}
- $("$FCLAYER" --version) (binary $binary built $(date -u -r "$binary" '+%Y-%m-%d %H:%M UTC'), commit $commit)
- Host: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, kernel $(uname -r)
- Docker Engine $(docker version -f '{{.Server.Version}}'), $(hyperfine --version), $(zip -v 2>/dev/null | sed -n 2p | awk '{print "Info-ZIP zip", $4}'), host Python $("$PY" -c 'import platform; print(platform.python_version())')
- hyperfine: mean ± standard deviation, min, number of runs; page cache warm. Ratios are of means
  measured in the same hyperfine run. The machine is shared: each comparison records the load
  average and other running containers at its start and end.
EOF

failed=()
for s in "${wanted[@]}"; do
  log "=== section $s"
  if ! "$0" __section "$s"; then
    failed+=("$s")
    result "$s" "section did not finish" "failed; see $WORK/log.txt" "" "NOT met"
  fi
done

"$PY" "$BENCH_SCRIPTS/report.py" table "$RESULTS_TSV" "$WORK/results-header.md" >"$WORK/results.md"
echo
cat "$WORK/results.md"
echo
log "table written to $WORK/results.md; hyperfine exports in $WORK/hyperfine/"
if [ ${#failed[@]} -gt 0 ]; then
  log "sections that failed: ${failed[*]}"
  exit 1
fi
