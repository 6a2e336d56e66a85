# shellcheck shell=bash
# Section `sam`: "Reproducible CI builds at scale".
#
# What is measured, and how (same requirements numpy<2.3, lxml, requests; same base, Debian 12
# with its Python 3.11; every build starts a fresh container and downloads its wheels from PyPI
# again, so network time is in every figure):
# - fclayer build to a ZIP: `fclayer build --runtime custom.debian12 --base-image debian:12
#   --no-cache`, its build image already present (the build is measured, not the image), its
#   build cache in the work folder (FCLAYER_CACHE_DIR) and bypassed. fclayer's pip download cache
#   is a volume per runtime shared by everyone using the engine: it is left as found, and the
#   table gives its size before and after the timed builds and calls the comparison cold only if
#   it held nothing; FCLAYER_BENCH_EMPTY_DOWNLOAD_CACHE=1 empties its pip folder before every
#   fclayer run instead (for a machine the bench has to itself).
# - AWS SAM CLI: `sam build --use-container --skip-pull-image` (aws-sam-cli from PyPI in a venv in
#   the work folder; its build image public.ecr.aws/sam/build-python3.11:latest-x86_64 is a local
#   stand-in built from debian:12 by sam-image.Dockerfile, since no registry is reachable) followed
#   by SAM's own zipper (sam_zip.py: make_zip_with_lambda_permissions, what `sam package` runs).
# - The manual FC procedure as a second reference: docker run + pip install --target (pip's
#   defaults, as FC's documentation has it) + docker cp + zip -r -q -X -6.
# - All three in one hyperfine run; goal: fclayer <= 0.5x SAM's mean time. If SAM cannot run here,
#   the row says why, and the goal is checked against the manual procedure instead.
# - Separately: fclayer's one-time build-image build, timed on a fresh copy of debian:12 (the same
#   content under a new image ID, so nothing is reused) that is removed afterwards with the
#   build image made on it; SAM's stand-in image build when it is (re)built.
# - Reproducibility: an untimed build before the timed runs is compared byte for byte with the
#   last timed one, for fclayer and for SAM.
# - Unchanged rebuild: fclayer's build-cache hit vs `sam build --cached` (goals <= 0.2 s and
#   <= 0.15x); one added requirement with the download cache warm vs cold; a linux/arm64 layer
#   of wheel-only requirements fetched natively vs built with --emulate (goal >= 5x).

SAM_DIR=$WORK/sam
SAM_OUT=$WORK/out/sam
SAM_VENV=$WORK/sam-venv
SAM_IMAGE_LOCAL=fclayer-bench/sam-build-python3.11:latest-x86_64
SAM_IMAGE_EXPECTED=public.ecr.aws/sam/build-python3.11:latest-x86_64
SAM_BUILD=() # sam build command, set by setup_sam
FC_BUILD_ARGS=(--runtime custom.debian12 --base-image debian:12 --ca-cert "$CA_BUNDLE")
# fclayer's build cache goes to the work folder, never the user's.
export FCLAYER_CACHE_DIR=$WORK/fclayer-cache
EMPTY_DOWNLOAD_CACHE=${FCLAYER_BENCH_EMPTY_DOWNLOAD_CACHE:-0}
REQUIREMENTS='numpy<2.3
lxml
requests'

# ---------------------------------------------------------------------------------------------
# The build cache, the download cache and cross-platform fetching.

# An unchanged rebuild: fclayer's build-cache hit vs `sam build --cached`. Both caches are warmed by
# one untimed build first; fclayer's build cache lives in the work folder.
bench_rebuild_unchanged() { # HAVE_SAM
  local have_sam=$1 cache=$WORK/fclayer-build-cache out=$SAM_OUT/rebuild.zip j
  local args="--runtime custom.debian12 --base-image debian:12 --ca-cert $CA_BUNDLE"
  local fc="FCLAYER_CACHE_DIR=$cache $FCLAYER -q build $SAM_DIR/fclayer-project $args -o $out"
  sh -c "$fc" >/dev/null 2>&1 || die "fclayer build (warming its build cache) failed"
  local cmds=(-n fclayer "$fc")
  if [ "$have_sam" = yes ]; then
    (cd "$SAM_DIR/project" && "${SAM_BUILD[@]}" --cached >/dev/null 2>&1) || die "sam build --cached failed"
    cmds+=(-n sam "cd $SAM_DIR/project && ${SAM_BUILD[*]} --cached >/dev/null")
  fi
  log "unchanged rebuilds: fclayer's build cache vs sam build --cached ($RUNS runs each)"
  bench rebuild --warmup 1 --runs "$RUNS" "${cmds[@]}"
  j=$WORK/hyperfine/rebuild.json
  result sam "unchanged rebuild: fclayer (build cache hit, no container)" "$(hf_cell "$j" fclayer)" \
    "<= 0.2 s" "$(verdict "$(hf "$j" fclayer mean)" le 0.2)"
  if [ "$have_sam" = yes ]; then
    result sam "unchanged rebuild: sam build --cached" "$(hf_cell "$j" sam)"
    local r
    r=$(div "$(hf "$j" fclayer mean)" "$(hf "$j" sam mean)" 3)
    result sam "time ratio fclayer / sam --cached (unchanged rebuild)" "${r}x" "<= 0.15x" "$(verdict "$r" le 0.15)"
  fi
}

# One requirement added (six) to the set, the build cache bypassed: with the download cache warm
# (every other wheel already in the volume's wheelhouse) vs cold (the wheelhouse emptied).
bench_changed_requirement() {
  local vol=fclayer-cache-custom.debian12-amd64 proj=$SAM_DIR/changed-project j r
  mkdir -p "$proj"
  printf '%s\nsix==1.16.0\n' "$REQUIREMENTS" >"$proj/requirements.txt"
  local args="--runtime custom.debian12 --base-image debian:12 --ca-cert $CA_BUNDLE --no-cache"
  "$FCLAYER" -q build "$SAM_DIR/fclayer-project" $args -o "$SAM_OUT/warm.zip" >/dev/null 2>&1 ||
    die "fclayer build (warming the download cache) failed"
  local in_volume="docker run --rm --label $BENCH_LABEL.run=$RUN_ID -v $vol:/c debian:12 sh -c"
  log "one changed requirement: warm vs cold download cache ($RUNS runs each)"
  bench changed --runs "$RUNS" \
    --prepare "$in_volume 'rm -rf /c/pip/wheelhouse-*/six-* /c/uv/wheels-v*/pypi/six'" \
    -n warm "$FCLAYER -q build $proj $args -o $SAM_OUT/changed.zip" \
    --prepare "$in_volume 'rm -rf /c/pip /c/uv'" \
    -n cold "$FCLAYER -q build $proj $args -o $SAM_OUT/changed.zip"
  j=$WORK/hyperfine/changed.json
  result sam "one changed requirement, download cache warm (only six downloaded)" "$(hf_cell "$j" warm)"
  result sam "one changed requirement, download cache cold (everything downloaded)" "$(hf_cell "$j" cold)"
  r=$(div "$(hf "$j" warm mean)" "$(hf "$j" cold mean)")
  result sam "time ratio warm / cold download cache" "${r}x"
}

# A linux/arm64 layer of wheel-only requirements from this linux/amd64 engine: fetched natively
# (pip told the target) vs --emulate (pip running under QEMU). Both start cold: the download
# caches of both paths are emptied before every run.
bench_arm64_native_vs_emulate() {
  if ! have_image debian:12-arm64; then
    result sam "arm64 target: native fetch vs --emulate" "not measured: debian:12-arm64 is missing (scripts/base-images.sh arm64)"
    return 0
  fi
  local args="--runtime custom.debian12 --platform linux/arm64 --base-image debian:12-arm64 --ca-cert $CA_BUNDLE --no-cache"
  local project=$SAM_DIR/fclayer-project j r
  # Untimed: make sure both paths' images exist (the emulated one builds under QEMU).
  "$FCLAYER" -q build "$project" $args -o "$SAM_OUT/arm-native.zip" >/dev/null 2>&1 || die "arm64 native build failed"
  "$FCLAYER" -q build "$project" $args --emulate -o "$SAM_OUT/arm-emulated.zip" >/dev/null 2>&1 || die "arm64 --emulate build failed"
  local clear="docker run --rm --label $BENCH_LABEL.run=$RUN_ID -v fclayer-cache-fetch-amd64:/a -v fclayer-cache-custom.debian12-arm64:/b debian:12 rm -rf /a/pip /b/pip /a/uv /b/uv"
  local runs=${FCLAYER_BENCH_CROSS_RUNS:-3}
  log "arm64 target: native fetch vs --emulate ($runs runs each)"
  bench cross --runs "$runs" --prepare "$clear" \
    -n native "$FCLAYER -q build $project $args -o $SAM_OUT/arm-native.zip" \
    -n emulated "$FCLAYER -q build $project $args --emulate -o $SAM_OUT/arm-emulated.zip"
  j=$WORK/hyperfine/cross.json
  result sam "arm64 target, native fetch (no arm64 container)" "$(hf_cell "$j" native)"
  result sam "arm64 target, --emulate (pip under QEMU)" "$(hf_cell "$j" emulated)"
  r=$(div "$(hf "$j" emulated mean)" "$(hf "$j" native mean)" 1)
  result sam "speed-up native fetch vs --emulate" "${r}x" ">= 5x" "$(verdict "$r" ge 5)"
}

# ---------------------------------------------------------------------------------------------
# SAM CLI

# A python that SAM can extract its build output with: SAM refuses a python without
# tarfile.data_filter (e.g. Debian 12's 3.11.2).
sam_python() {
  local p
  for p in "${FCLAYER_BENCH_SAM_PYTHON:-}" "$PY" /usr/bin/python3 "$HOME"/.pyenv/versions/3.1[1-9]*/bin/python3; do
    if [ -z "$p" ] || [ ! -x "$p" ]; then continue; fi
    if "$p" -c 'import sys, tarfile; sys.exit(not (sys.version_info >= (3, 9) and hasattr(tarfile, "data_filter")))' 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# setup_sam: venv, stand-in image, project. Returns 1 with the reason in $SAM_UNAVAILABLE.
SAM_UNAVAILABLE=""
setup_sam() {
  local python
  if [ ! -x "$SAM_VENV/bin/sam" ]; then
    if ! python=$(sam_python); then
      SAM_UNAVAILABLE="no python >= 3.9 with tarfile.data_filter on this host (SAM CLI refuses to extract its build output without it)"
      return 1
    fi
    log "installing aws-sam-cli${FCLAYER_BENCH_SAM_VERSION:+==$FCLAYER_BENCH_SAM_VERSION} into $SAM_VENV"
    rm -rf "$SAM_VENV"
    if ! "$python" -m venv "$SAM_VENV" ||
      ! "$SAM_VENV/bin/pip" install -q "aws-sam-cli${FCLAYER_BENCH_SAM_VERSION:+==$FCLAYER_BENCH_SAM_VERSION}" >&2; then
      SAM_UNAVAILABLE="pip install aws-sam-cli failed (see the log)"
      rm -rf "$SAM_VENV"
      return 1
    fi
  fi
  local lb
  lb=$("$SAM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aws-lambda-builders"))')
  if [ "$(docker image inspect -f '{{index .Config.Labels "fclayer-bench.lambda-builders"}}' "$SAM_IMAGE_LOCAL" 2>/dev/null)" != "$lb" ]; then
    log "building SAM's stand-in build image $SAM_IMAGE_LOCAL (aws-lambda-builders $lb) from debian:12"
    local ctx=$WORK/images/sam start
    mkdir -p "$ctx" "$WORK/state"
    cp "$BENCH_SCRIPTS/sam-image.Dockerfile" "$ctx/Dockerfile"
    cp "$CA_BUNDLE" "$ctx/host-ca.crt"
    start=$(date +%s.%N)
    if ! build_image "$SAM_IMAGE_LOCAL" "$ctx/Dockerfile" "$ctx" --build-arg BASE=debian:12 \
      --build-arg "LAMBDA_BUILDERS_VERSION=$lb" --label "fclayer-bench.lambda-builders=$lb"; then
      SAM_UNAVAILABLE="the stand-in build image did not build (see the log)"
      return 1
    fi
    printf '%.1f s (%s)\n' "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')" \
      "$(date -u '+%Y-%m-%d %H:%M UTC')" >"$WORK/state/sam-image-build.txt"
  fi
  # Give it the name SAM expects, unless that name is taken by an image the bench did not build.
  if have_image "$SAM_IMAGE_EXPECTED" &&
    [ -z "$(docker image inspect -f '{{index .Config.Labels "fclayer-bench"}}' "$SAM_IMAGE_EXPECTED")" ]; then
    log "$SAM_IMAGE_EXPECTED exists and is not the bench's: using --build-image $SAM_IMAGE_LOCAL"
    SAM_BUILD=("$SAM_VENV/bin/sam" build --use-container --skip-pull-image --build-image "$SAM_IMAGE_LOCAL")
  else
    docker tag "$SAM_IMAGE_LOCAL" "$SAM_IMAGE_EXPECTED"
    SAM_BUILD=("$SAM_VENV/bin/sam" build --use-container --skip-pull-image)
  fi

  mkdir -p "$SAM_DIR/project/layer"
  printf '%s\n' "$REQUIREMENTS" >"$SAM_DIR/project/layer/requirements.txt"
  cat >"$SAM_DIR/project/template.yaml" <<'YAML'
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: fclayer benchmark - Python 3.11 layer with numpy, lxml, requests
Resources:
  DepsLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: fclayer-bench-deps
      ContentUri: layer/
      CompatibleRuntimes:
        - python3.11
      CompatibleArchitectures:
        - x86_64
    Metadata:
      BuildMethod: python3.11
      BuildArchitecture: x86_64
YAML
}

# ---------------------------------------------------------------------------------------------
# fclayer's download cache (pip's cache in an engine volume, one per runtime and platform)

download_cache_volume() {
  "$FCLAYER" cache ls --json 2>/dev/null | "$PY" -c '
import json, sys
for v in json.load(sys.stdin).get("volumes", []):
    if v["caches"] == "custom.debian12 linux/amd64":
        print(v["name"])'
}

# kB in pip's cache in the volume (mounted read-only: nothing is changed).
download_cache_kb() {
  docker run --rm --label "$BENCH_LABEL.run=$RUN_ID" -v "$1:/c:ro" debian:12 \
    sh -c 'find /c/pip -type f -printf "%s\n" 2>/dev/null | awk "{ s += \$1 } END { printf \"%d\n\", s / 1024 }"'
}

# ---------------------------------------------------------------------------------------------
# fclayer's one-time build-image build

# seconds of a step from fclayer's log: "...: built (61.2 s)" -> 61.2
step_seconds() { # LOG PATTERN
  grep -E "$2" "$1" | sed -n 's/.*(\([0-9.]*\) s)[[:space:]]*$/\1/p' | tail -n 1
}

time_image_build() {
  local base=fclayer-bench/debian:12-fresh-$RUN_ID log=$SAM_OUT/image-build.log start total
  log "timing fclayer's one-time build-image build on a fresh copy of debian:12"
  # Same content as debian:12, new image ID (unique label): fclayer and the engine's layer cache
  # reuse nothing.
  printf 'FROM debian:12\n' | docker build -q --label "$BENCH_LABEL=1" \
    --label "$BENCH_LABEL.run=$RUN_ID" -t "$base" - >/dev/null
  start=$(date +%s.%N)
  local status=0
  "$FCLAYER" build "$SAM_DIR/fclayer-project" --runtime custom.debian12 --base-image "$base" \
    --ca-cert "$CA_BUNDLE" -o "$SAM_OUT/image-build.zip" >"$log" 2>&1 || status=$?
  total=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  local image
  for image in $(docker images -q --filter "label=fclayer.base=$base" | sort -u); do
    docker rmi -f "$image" >/dev/null || true
  done
  docker rmi "$base" >/dev/null || true
  if [ "$status" != 0 ]; then
    result sam "fclayer one-time build-image build" "failed (exit $status; see $log)" "" "NOT met"
    return 0
  fi
  result sam "fclayer one-time build-image build (fresh debian:12 copy)" \
    "$(step_seconds "$log" '^ *Building image.*built') s image build; first build in total ${total} s"
}

# ---------------------------------------------------------------------------------------------

section_main() {
  need_cmd zip
  mkdir -p "$SAM_DIR/fclayer-project" "$SAM_DIR/manual-req" "$SAM_OUT"
  printf '%s\n' "$REQUIREMENTS" >"$SAM_DIR/fclayer-project/requirements.txt"
  printf '%s\n' "$REQUIREMENTS" >"$SAM_DIR/manual-req/requirements.txt"
  ensure_pip_image
  if "$FCLAYER" build --help | grep -q -- --no-cache; then
    FC_BUILD_ARGS+=(--no-cache)
  fi

  local have_sam=yes
  if ! setup_sam; then
    have_sam=no
    result sam "AWS SAM CLI" "cannot run here: $SAM_UNAVAILABLE; compared with the manual FC procedure instead"
  else
    result sam "AWS SAM CLI" "$("$SAM_VENV/bin/sam" --version) (aws-lambda-builders $("$SAM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("aws-lambda-builders"))')), stand-in build image on debian:12"
    if [ -f "$WORK/state/sam-image-build.txt" ]; then
      result sam "SAM stand-in build image: one-time docker build" "$(cat "$WORK/state/sam-image-build.txt")"
    fi
  fi

  if [ "${FCLAYER_BENCH_IMAGE_BUILD:-1}" = 1 ]; then
    time_image_build
  fi

  # Untimed reference builds: they make sure fclayer's build image exists, warm the page cache
  # and SAM's venv, and give the first half of each reproducibility comparison.
  log "untimed reference builds"
  local fc_log=$SAM_OUT/fclayer-reference.log
  "$FCLAYER" build "$SAM_DIR/fclayer-project" "${FC_BUILD_ARGS[@]}" -o "$SAM_OUT/ref-fclayer.zip" >"$fc_log" 2>&1 ||
    die "fclayer build failed; see $fc_log"
  if grep -q '^ *Building image' "$fc_log"; then
    result sam "fclayer build image for debian:12" "was missing: built during the untimed reference build ($(step_seconds "$fc_log" '^ *Building image.*built') s)"
  fi
  result sam "fclayer phases (untimed reference build)" \
    "install $(step_seconds "$fc_log" '^ *Installing.*done') s, pack $(step_seconds "$fc_log" '^ *Packing.*files') s, ELF check $(step_seconds "$fc_log" '^ *Checking.*fit') s, total $(step_seconds "$fc_log" '^ *Finished') s"

  # fclayer's download cache: measured before and after the timed runs; emptied before each
  # fclayer run only when asked to (it is shared with everyone using this engine).
  local volume fc_prepare="rm -f $SAM_OUT/fclayer.zip" cache_before=0
  volume=$(download_cache_volume)
  if [ -n "$volume" ]; then
    cache_before=$(download_cache_kb "$volume")
    if [ "$EMPTY_DOWNLOAD_CACHE" = 1 ]; then
      fc_prepare+="; docker run --rm --label $BENCH_LABEL.run=$RUN_ID -v $volume:/c debian:12 rm -rf /c/pip /c/uv"
    fi
  fi
  if [ "$have_sam" = yes ]; then
    (cd "$SAM_DIR/project" && rm -rf .aws-sam && "${SAM_BUILD[@]}" >"$SAM_OUT/sam-reference.log" 2>&1 &&
      "$SAM_VENV/bin/python" "$BENCH_SCRIPTS/sam_zip.py" .aws-sam/build/DepsLayer "$SAM_OUT/ref-sam" >/dev/null) ||
      die "sam build failed; see $SAM_OUT/sam-reference.log"
  fi

  # The timed runs, all in one hyperfine invocation.
  local manual=fclayer-bench-manual-$RUN_ID ca_args manual_cmd sam_cmd
  mapfile -t ca_args < <(ca_run_args)
  manual_cmd="docker run --name $manual --label $BENCH_LABEL.run=$RUN_ID ${ca_args[*]}"
  manual_cmd+=" -v $SAM_DIR/manual-req:/req:ro $PIP_IMAGE python3 -m pip install -q --target /opt/python -r /req/requirements.txt"
  manual_cmd+=" && mkdir -p $SAM_OUT/manual && docker cp $manual:/opt/python $SAM_OUT/manual/ && docker rm $manual >/dev/null"
  manual_cmd+=" && cd $SAM_OUT/manual && zip -r -q -X -6 $SAM_OUT/manual.zip python"
  local cmds=(
    --prepare "$fc_prepare"
    -n fclayer "$FCLAYER -q build $SAM_DIR/fclayer-project ${FC_BUILD_ARGS[*]} -o $SAM_OUT/fclayer.zip"
  )
  if [ "$have_sam" = yes ]; then
    sam_cmd="cd $SAM_DIR/project && ${SAM_BUILD[*]} >/dev/null && $SAM_VENV/bin/python $BENCH_SCRIPTS/sam_zip.py .aws-sam/build/DepsLayer $SAM_OUT/sam"
    cmds+=(--prepare "rm -rf $SAM_DIR/project/.aws-sam $SAM_OUT/sam.zip" -n sam "$sam_cmd")
  fi
  cmds+=(--prepare "docker rm -f $manual >/dev/null 2>&1; rm -rf $SAM_OUT/manual $SAM_OUT/manual.zip"
    -n manual "$manual_cmd")
  local names="fclayer vs the manual procedure"
  if [ "$have_sam" = yes ]; then names="fclayer vs SAM vs the manual procedure"; fi
  log "timed builds: $names ($RUNS runs each)"
  local before
  before=$(conditions)
  bench sam-cold --runs "$RUNS" "${cmds[@]}"
  local j=$WORK/hyperfine/sam-cold.json
  result sam "timed builds: conditions at start / end" "$before / $(conditions)"
  result sam "fclayer build --no-cache (build image present) + ZIP" "$(hf_cell "$j" fclayer)"
  if [ "$have_sam" = yes ]; then
    result sam "sam build --use-container + SAM zipper" "$(hf_cell "$j" sam)"
  fi
  result sam "manual: docker run pip --target + docker cp + zip -r" "$(hf_cell "$j" manual)"
  # Cold means no download came from a cache: no volume, emptied before each run, or a cache
  # that was empty before and stayed empty (pip stores nothing when the index's responses carry
  # no caching headers, as behind some TLS-intercepting proxies).
  local r which cache_after=0
  if [ -z "$volume" ]; then
    which="all cold"
    result sam "fclayer download cache" "none (this fclayer has no download cache)"
  elif [ "$EMPTY_DOWNLOAD_CACHE" = 1 ]; then
    which="all cold"
    result sam "fclayer download cache ($volume, shared)" "emptied before every fclayer run (FCLAYER_BENCH_EMPTY_DOWNLOAD_CACHE=1)"
  else
    cache_after=$(download_cache_kb "$volume")
    if [ "$cache_before" = 0 ] && [ "$cache_after" = 0 ]; then
      which="all cold: fclayer's download cache stayed empty"
    else
      which="fclayer's download cache warm (${cache_before} kB before), the others' cold"
    fi
    result sam "fclayer download cache ($volume, shared; left as found)" \
      "pip cache ${cache_before} kB before the timed builds, ${cache_after} kB after"
  fi
  if [ "$have_sam" = yes ]; then
    r=$(div "$(hf "$j" fclayer mean)" "$(hf "$j" sam mean)")
    result sam "time ratio fclayer / SAM (mean; $which)" "${r}x" "<= 0.5x" "$(verdict "$r" le 0.5)"
    r=$(div "$(hf "$j" fclayer mean)" "$(hf "$j" manual mean)")
    result sam "time ratio fclayer / manual procedure (mean; $which)" "${r}x"
  else
    r=$(div "$(hf "$j" fclayer mean)" "$(hf "$j" manual mean)")
    result sam "time ratio fclayer / manual procedure (mean; $which; SAM unavailable)" "${r}x" "<= 0.5x" "$(verdict "$r" le 0.5)"
  fi

  # What came out, and whether two builds gave the same bytes.
  result sam "fclayer ZIP" "$(stat -c %s "$SAM_OUT/fclayer.zip") B: $("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$SAM_OUT/fclayer.zip")"
  if [ "$have_sam" = yes ]; then
    result sam "SAM ZIP" "$(stat -c %s "$SAM_OUT/sam.zip") B: $("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$SAM_OUT/sam.zip")"
  fi
  result sam "manual ZIP" "$(stat -c %s "$SAM_OUT/manual.zip") B: $("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$SAM_OUT/manual.zip")"
  local a b v
  a=$(sha256sum "$SAM_OUT/ref-fclayer.zip" | cut -c1-16)
  b=$(sha256sum "$SAM_OUT/fclayer.zip" | cut -c1-16)
  v="NOT met"
  if [ "$a" = "$b" ]; then v=met; fi
  result sam "fclayer: two builds (--no-cache), same ZIP bytes (sha256)" "$a / $b" "identical" "$v"
  if [ "$have_sam" = yes ]; then
    a=$(sha256sum "$SAM_OUT/ref-sam.zip" | cut -c1-16)
    b=$(sha256sum "$SAM_OUT/sam.zip" | cut -c1-16)
    v=no
    if [ "$a" = "$b" ]; then v=yes; fi
    result sam "SAM: two builds, same ZIP bytes (sha256)" "$a / $b: $v"
  fi

  bench_rebuild_unchanged "$have_sam"
  bench_changed_requirement
  bench_arm64_native_vs_emulate

  # SAM removes its containers itself; say so if any of the stand-in image's are left.
  local left
  left=$(docker ps -aq --filter "ancestor=$SAM_IMAGE_LOCAL" | wc -l)
  if [ "$left" != 0 ]; then
    log "warning: $left container(s) of $SAM_IMAGE_LOCAL left behind by SAM"
  fi
}
