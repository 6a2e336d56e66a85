# shellcheck shell=bash
# Section `uv`: uv as fclayer's Python installer (issue 14).
#
# What is measured, and how (requirements numpy<2.3, lxml, requests, as in the sam section; base
# Debian 12 with its Python 3.11, runtime custom.debian12; every figure downloads from PyPI
# through this machine's proxy):
# - Cold builds, build image present, no download cache: `fclayer build --no-cache` with uv (the
#   default) vs `--installer pip` vs `sam build --use-container` + SAM's zipper (the sam section's
#   setup: aws-sam-cli from PyPI, a local stand-in of SAM's build image). Cold means the uv and pip
#   folders of fclayer's download-cache volume for custom.debian12 are emptied before every
#   fclayer run (SAM keeps no download cache between builds). Goal: uv <= 0.25x SAM. Also
#   `--no-bytecode` vs SAM, like for like (SAM's layer has no byte-code; fclayer compiles it by
#   default, ~1 s of the build on 2 cores).
# - A linux/arm64 layer of the same wheel-only requirements from this linux/amd64 engine: the
#   native fetch with uv (the default) and with pip vs `--emulate` (everything under QEMU), the
#   download caches of every path emptied before each run. Goal: >= 8x for the native fetch.
#   Both again with --no-bytecode (under --emulate the byte-code is compiled under QEMU).
# - uv's download cache: the same cold build again with the cache warm (nothing downloaded).
# - A uv.lock project (tests/fixtures/pyformats/uv-fork: numpy, locked per Python version):
#   `fclayer build` of the folder vs the procedure by hand, `uv export --frozen --no-dev
#   --no-emit-project` on the host, then `docker run ... pip install --target` in plain Debian
#   12, `docker cp` and `zip -r`; download caches emptied, no pip cache in the container.

# The sam section's SAM set-up (setup_sam, SAM_BUILD, the project folders).
# shellcheck source=scripts/bench/section-sam.sh
source "$BENCH_SCRIPTS/section-sam.sh"

UV_OUT=$WORK/out/uv
UV_VOLUME=fclayer-cache-custom.debian12-amd64

# A command that empties the uv and pip download caches in the given volumes.
empty_caches() { # VOLUME...
  local mounts="" dirs="" i=0 v
  for v in "$@"; do
    mounts+=" -v $v:/c$i"
    dirs+=" /c$i/uv /c$i/pip"
    i=$((i + 1))
  done
  echo "docker run --rm --label $BENCH_LABEL.run=$RUN_ID$mounts debian:12 rm -rf$dirs"
}

bench_uv_cold() { # HAVE_SAM
  local have_sam=$1 project=$SAM_DIR/fclayer-project j r
  local args="--runtime custom.debian12 --base-image debian:12 --ca-cert $CA_BUNDLE --no-cache"
  # Untimed: the build image exists and both installers work.
  "$FCLAYER" -q build "$project" $args -o "$UV_OUT/uv.zip" >"$UV_OUT/uv-ref.log" 2>&1 ||
    die "fclayer build (uv) failed; see $UV_OUT/uv-ref.log"
  "$FCLAYER" -q build "$project" $args --installer pip -o "$UV_OUT/pip.zip" >"$UV_OUT/pip-ref.log" 2>&1 ||
    die "fclayer build --installer pip failed; see $UV_OUT/pip-ref.log"
  local clear
  clear=$(empty_caches "$UV_VOLUME")
  local cmds=(
    --prepare "$clear; rm -f $UV_OUT/uv.zip"
    -n uv "$FCLAYER -q build $project $args -o $UV_OUT/uv.zip"
    --prepare "$clear; rm -f $UV_OUT/pip.zip"
    -n pip "$FCLAYER -q build $project $args --installer pip -o $UV_OUT/pip.zip"
    --prepare "$clear; rm -f $UV_OUT/uv-nobytecode.zip"
    -n uv-nobytecode "$FCLAYER -q build $project $args --no-bytecode -o $UV_OUT/uv-nobytecode.zip"
  )
  if [ "$have_sam" = yes ]; then
    cmds+=(--prepare "rm -rf $SAM_DIR/project/.aws-sam $SAM_OUT/sam.zip"
      -n sam "cd $SAM_DIR/project && ${SAM_BUILD[*]} >/dev/null && $SAM_VENV/bin/python $BENCH_SCRIPTS/sam_zip.py .aws-sam/build/DepsLayer $SAM_OUT/sam")
  fi
  log "cold builds: fclayer with uv vs with pip${have_sam/yes/ vs SAM} ($RUNS runs each)"
  local before
  before=$(conditions)
  bench uv-cold --runs "$RUNS" "${cmds[@]}"
  j=$WORK/hyperfine/uv-cold.json
  result uv "cold builds: conditions at start / end" "$before / $(conditions)"
  result uv "fclayer build, uv, no download cache (build image present)" "$(hf_cell "$j" uv)"
  result uv "fclayer build --installer pip, no download cache" "$(hf_cell "$j" pip)"
  r=$(div "$(hf "$j" uv mean)" "$(hf "$j" pip mean)")
  result uv "time ratio uv / pip (cold)" "${r}x"
  if [ "$have_sam" = yes ]; then
    result uv "sam build --use-container + SAM zipper" "$(hf_cell "$j" sam)"
    r=$(div "$(hf "$j" uv mean)" "$(hf "$j" sam mean)")
    result uv "time ratio fclayer (uv) / SAM (cold)" "${r}x" "<= 0.25x" "$(verdict "$r" le 0.25)"
    r=$(div "$(hf "$j" pip mean)" "$(hf "$j" sam mean)")
    result uv "time ratio fclayer (pip) / SAM (cold)" "${r}x"
    # Like for like: SAM's layer carries no byte-code, fclayer's does unless --no-bytecode.
    result uv "fclayer build, uv, --no-bytecode, no download cache" "$(hf_cell "$j" uv-nobytecode)"
    r=$(div "$(hf "$j" uv-nobytecode mean)" "$(hf "$j" sam mean)")
    result uv "time ratio fclayer (uv, --no-bytecode) / SAM (cold; neither layer has byte-code)" "${r}x" "<= 0.25x" "$(verdict "$r" le 0.25)"
  else
    result uv "time ratio fclayer (uv) / SAM" "not measured: SAM cannot run here ($SAM_UNAVAILABLE)" "<= 0.25x" "NOT met"
  fi
  result uv "uv ZIP / pip ZIP" "$("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$UV_OUT/uv.zip") / $("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$UV_OUT/pip.zip")"
  # Two uv builds in fresh containers: the same bytes.
  local a b v=NOT\ met
  cp "$UV_OUT/uv.zip" "$UV_OUT/uv-first.zip"
  "$FCLAYER" -q build "$project" $args -o "$UV_OUT/uv.zip" >/dev/null 2>&1 || die "fclayer build (uv) failed"
  a=$(sha256sum "$UV_OUT/uv-first.zip" | cut -c1-16)
  b=$(sha256sum "$UV_OUT/uv.zip" | cut -c1-16)
  [ "$a" = "$b" ] && v=met
  result uv "uv: two builds (--no-cache), same ZIP bytes (sha256)" "$a / $b" "identical" "$v"
  # The same build with uv's download cache warm (the build just before filled it).
  bench uv-warm --runs "$RUNS" -n warm "$FCLAYER -q build $project $args -o $UV_OUT/uv.zip"
  result uv "fclayer build, uv, download cache warm (nothing downloaded)" "$(hf_cell "$WORK/hyperfine/uv-warm.json" warm)"
}

bench_uv_arm64() {
  if ! have_image debian:12-arm64; then
    result uv "arm64 target: native fetch vs --emulate" "not measured: debian:12-arm64 is missing (scripts/base-images.sh arm64)"
    return 0
  fi
  local project=$SAM_DIR/fclayer-project j r
  local args="--runtime custom.debian12 --platform linux/arm64 --base-image debian:12-arm64 --ca-cert $CA_BUNDLE --no-cache"
  "$FCLAYER" -q build "$project" $args -o "$UV_OUT/arm-uv.zip" >/dev/null 2>&1 || die "arm64 native build (uv) failed"
  "$FCLAYER" -q build "$project" $args --installer pip -o "$UV_OUT/arm-pip.zip" >/dev/null 2>&1 || die "arm64 native build (pip) failed"
  "$FCLAYER" -q build "$project" $args --emulate -o "$UV_OUT/arm-emulated.zip" >/dev/null 2>&1 || die "arm64 --emulate build failed"
  local clear runs=${FCLAYER_BENCH_CROSS_RUNS:-3}
  clear=$(empty_caches fclayer-cache-fetch-amd64 fclayer-cache-custom.debian12-arm64)
  log "arm64 target: native fetch (uv, pip) vs --emulate ($runs runs each)"
  bench uv-cross --runs "$runs" --prepare "$clear" \
    -n native-uv "$FCLAYER -q build $project $args -o $UV_OUT/arm-uv.zip" \
    -n native-pip "$FCLAYER -q build $project $args --installer pip -o $UV_OUT/arm-pip.zip" \
    -n emulated "$FCLAYER -q build $project $args --emulate -o $UV_OUT/arm-emulated.zip" \
    -n native-nobytecode "$FCLAYER -q build $project $args --no-bytecode -o $UV_OUT/arm-uv-nb.zip" \
    -n emulated-nobytecode "$FCLAYER -q build $project $args --emulate --no-bytecode -o $UV_OUT/arm-emulated-nb.zip"
  j=$WORK/hyperfine/uv-cross.json
  result uv "arm64 target, native fetch with uv (no arm64 container)" "$(hf_cell "$j" native-uv)"
  result uv "arm64 target, native fetch with pip" "$(hf_cell "$j" native-pip)"
  result uv "arm64 target, --emulate (uv under QEMU)" "$(hf_cell "$j" emulated)"
  r=$(div "$(hf "$j" emulated mean)" "$(hf "$j" native-uv mean)" 1)
  result uv "speed-up native fetch (uv) vs --emulate" "${r}x" ">= 8x" "$(verdict "$r" ge 8)"
  r=$(div "$(hf "$j" emulated mean)" "$(hf "$j" native-pip mean)" 1)
  result uv "speed-up native fetch (pip) vs --emulate" "${r}x"
  r=$(div "$(hf "$j" emulated-nobytecode mean)" "$(hf "$j" native-nobytecode mean)" 1)
  result uv "speed-up native fetch (uv) vs --emulate, both --no-bytecode" \
    "$(hf_cell "$j" native-nobytecode) vs $(hf_cell "$j" emulated-nobytecode): ${r}x"
}

bench_uv_lock() {
  local project=$WORK/uvlock/project out=$WORK/uvlock/out j r
  rm -rf "$WORK/uvlock" && mkdir -p "$project" "$out"
  cp "$REPO/tests/fixtures/pyformats/uv-fork/pyproject.toml" "$REPO/tests/fixtures/pyformats/uv-fork/uv.lock" "$project/"
  # The host's uv for the export, the same version as fclayer's build images.
  if [ ! -x "$SAM_VENV/bin/uv" ]; then
    "$SAM_VENV/bin/pip" install -q "uv==$(sed -n 's/^version=//p' "$REPO/images/common/setup-uv.sh")" ||
      die "installing uv into $SAM_VENV failed"
  fi
  ensure_pip_image
  local args="--runtime custom.debian12 --base-image debian:12 --ca-cert $CA_BUNDLE --no-cache"
  "$FCLAYER" -q build "$project" $args -o "$out/fclayer.zip" >"$out/ref.log" 2>&1 ||
    die "fclayer build of the uv.lock project failed; see $out/ref.log"
  local manual=fclayer-bench-uvlock-$RUN_ID ca_args hand
  mapfile -t ca_args < <(ca_run_args)
  hand="$SAM_VENV/bin/uv export -q --frozen --no-dev --no-emit-project --project $project -o $out/req/requirements.txt"
  hand+=" && docker run --name $manual --label $BENCH_LABEL.run=$RUN_ID ${ca_args[*]} -v $out/req:/req:ro $PIP_IMAGE"
  hand+=" python3 -m pip install -q --no-cache-dir --target /opt/python -r /req/requirements.txt"
  hand+=" && mkdir -p $out/hand && docker cp $manual:/opt/python $out/hand/ && docker rm $manual >/dev/null"
  hand+=" && cd $out/hand && zip -r -q -X -6 $out/hand.zip python"
  log "uv.lock project: fclayer vs uv export + pip install --target by hand ($RUNS runs each)"
  bench uv-lock --runs "$RUNS" \
    --prepare "$(empty_caches "$UV_VOLUME"); rm -f $out/fclayer.zip" \
    -n fclayer "$FCLAYER -q build $project $args -o $out/fclayer.zip" \
    --prepare "docker rm -f $manual >/dev/null 2>&1; rm -rf $out/hand $out/hand.zip $out/req; mkdir -p $out/req" \
    -n by-hand "$hand"
  j=$WORK/hyperfine/uv-lock.json
  result uv "uv.lock project: fclayer build (uv, no download cache)" "$(hf_cell "$j" fclayer)"
  result uv "uv.lock project: uv export + docker run pip install --target + zip, by hand" "$(hf_cell "$j" by-hand)"
  r=$(div "$(hf "$j" fclayer mean)" "$(hf "$j" by-hand mean)")
  result uv "time ratio fclayer / by hand (uv.lock)" "${r}x"
  result uv "uv.lock: fclayer ZIP / by-hand ZIP" "$("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$out/fclayer.zip") / $("$PY" "$BENCH_SCRIPTS/report.py" zipsummary "$out/hand.zip")"
}

section_main() {
  need_cmd zip
  mkdir -p "$SAM_DIR/fclayer-project" "$SAM_OUT" "$UV_OUT"
  printf '%s\n' "$REQUIREMENTS" >"$SAM_DIR/fclayer-project/requirements.txt"
  local have_sam=yes
  if ! setup_sam; then
    have_sam=no
    result uv "AWS SAM CLI" "cannot run here: $SAM_UNAVAILABLE"
  fi
  bench_uv_cold "$have_sam"
  bench_uv_arm64
  if [ "$have_sam" = yes ]; then
    bench_uv_lock
  else
    result uv "uv.lock project vs by hand" "not measured: the host's uv comes from the SAM venv ($SAM_UNAVAILABLE)"
  fi
}
