# shellcheck shell=bash
# Section `coldstart`: "Layers that start fast" (byte-code and --slim).
#
# What is measured, and how (runtime custom.debian12, Debian 12's Python 3.11, the runtime SAM's
# stand-in image builds for, so all three layers are for the same interpreter):
# - Three requirement sets: numpy + lxml + requests; pydantic + boto3 (and one boto3 client);
#   pandas (numpy<2.3 in both numpy sets: SAM's resolver finds no wheel of numpy 2.4 for its
#   platform). FCLAYER_BENCH_COLDSTART_SETS=pandas (a regex) runs only some. For each: fclayer's layer (byte-code, the default), the same with --no-bytecode, with
#   --slim, and SAM's layer of the same requirements (`sam build --use-container` + SAM's zipper,
#   set up as section `sam` does; FCLAYER_BENCH_COLDSTART_SAM=0 skips it).
# - Cold import time: each layer is unpacked once into a host folder, mounted read-only at /opt of
#   a fresh `docker run --read-only --network none` container of fclayer's build image per run (FC
#   mounts layers read-only, so Python cannot write byte-code and compiles what has none on every
#   cold start). Inside, Python times the import statement alone (time.perf_counter around it), so
#   container and interpreter start-up, equal for every layer, do not dilute the ratio. Page cache
#   warm: one untimed run first. FCLAYER_BENCH_COLDSTART_RUNS runs (default 10); mean and min,
#   and the ratio of the means (the goal) and of the minimums (least disturbed by other load).
# - Layer size: each ZIP's bytes. Goals: byte-code >= 1.8x faster than --no-bytecode on the first
#   two sets; --slim >= 10% smaller than SAM's ZIP.

COLD_DIR=$WORK/coldstart
COLD_RUNS=${FCLAYER_BENCH_COLDSTART_RUNS:-10}
export FCLAYER_CACHE_DIR=$WORK/fclayer-cache
COLD_ARGS=(--runtime custom.debian12 --base-image debian:12 --ca-cert "$CA_BUNDLE")

cold_sets() {
  printf '%s\n' \
    'numpy-lxml-requests|numpy<2.3 lxml requests|import numpy, lxml.etree, requests' \
    'pydantic-boto3|pydantic boto3|import pydantic, boto3; boto3.client("s3", region_name="cn-hangzhou")' \
    'pandas|pandas numpy<2.3|import pandas' |
    grep -E "^(${FCLAYER_BENCH_COLDSTART_SETS:-.*})\|"
}

# cold_import NAME ZIP IMPORT -> "mean min" in ms over COLD_RUNS fresh containers.
cold_import() {
  local name=$1 zip=$2 stmt=$3 dir=$COLD_DIR/unpacked/$1 image i t
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && unzip -q "$zip")
  # The newest amd64 one: cross-platform builds keep arm64 images under the same name.
  image=$(for i in $(docker images --format '{{.Repository}}:{{.Tag}}' fclayer/build-custom.debian12); do
    [ "$(docker image inspect -f '{{.Architecture}}' "$i")" = amd64 ] && echo "$i"
  done | head -n 1)
  [ -n "$image" ] || die "no amd64 image of fclayer/build-custom.debian12"
  local code="import time
t = time.perf_counter()
$stmt
print('%.1f' % ((time.perf_counter() - t) * 1000))"
  local run=(docker run --rm --read-only --network none --label "$BENCH_LABEL.run=$RUN_ID"
    -v "$dir:/opt:ro" -e PYTHONPATH=/opt/python "$image" python3.11 -c "$code")
  "${run[@]}" >/dev/null || die "import failed from $name's layer"
  : >"$COLD_DIR/$name.ms"
  for i in $(seq "$COLD_RUNS"); do
    t=$("${run[@]}") || die "import failed from $name's layer"
    echo "$t" >>"$COLD_DIR/$name.ms"
  done
  awk '{ s += $1; if (NR == 1 || $1 < m) m = $1 } END { printf "%.1f %.1f", s / NR, m }' "$COLD_DIR/$name.ms"
}

# sam_layer SET REQUIREMENTS -> the path of SAM's ZIP for them (built once per run).
sam_layer() {
  local set=$1 reqs=$2 proj=$COLD_DIR/sam-$1
  mkdir -p "$proj/layer"
  printf '%s\n' $reqs >"$proj/layer/requirements.txt"
  sed 's/fclayer-bench-deps/fclayer-bench-coldstart/' "$SAM_DIR/project/template.yaml" >"$proj/template.yaml"
  (cd "$proj" && "${SAM_BUILD[@]}" >"$COLD_DIR/sam-$set.log" 2>&1 &&
    "$SAM_VENV/bin/python" "$BENCH_SCRIPTS/sam_zip.py" .aws-sam/build/DepsLayer "$COLD_DIR/sam-$set" >/dev/null) ||
    die "sam build of $set failed; see $COLD_DIR/sam-$set.log"
  echo "$COLD_DIR/sam-$set.zip"
}

section_main() {
  need_cmd unzip
  mkdir -p "$COLD_DIR"
  local have_sam=no
  if [ "${FCLAYER_BENCH_COLDSTART_SAM:-1}" = 1 ]; then
    # SAM's setup (venv, stand-in image, template) is section sam's.
    # shellcheck source=scripts/bench/section-sam.sh
    source "$BENCH_SCRIPTS/section-sam.sh"
    section_main() { :; }
    export FCLAYER_CACHE_DIR=$WORK/fclayer-cache
    if setup_sam; then have_sam=yes; else
      result coldstart "SAM's layers" "cannot be built here: $SAM_UNAVAILABLE"
    fi
  else
    result coldstart "SAM's layers" "not built (FCLAYER_BENCH_COLDSTART_SAM=0)"
  fi
  local line set reqs stmt variant zip
  while IFS= read -r line; do
    IFS='|' read -r set reqs stmt <<<"$line"
    mkdir -p "$COLD_DIR/$set"
    printf '%s\n' $reqs >"$COLD_DIR/$set/requirements.txt"
    log "coldstart $set: building the layers"
    for variant in bytecode no-bytecode slim slim-no-bytecode; do
      local extra=()
      case $variant in
        no-bytecode) extra=(--no-bytecode) ;;
        slim) extra=(--slim) ;;
        slim-no-bytecode) extra=(--slim --no-bytecode) ;;
      esac
      "$FCLAYER" build "$COLD_DIR/$set" "${COLD_ARGS[@]}" "${extra[@]}" \
        -o "$COLD_DIR/$set-$variant.zip" 2>"$COLD_DIR/$set-$variant.log" ||
        die "fclayer build ($set, $variant) failed; see $COLD_DIR/$set-$variant.log"
    done
    local sam_zip=""
    if [ "$have_sam" = yes ]; then sam_zip=$(sam_layer "$set" "$reqs"); fi

    log "coldstart $set: cold imports from a read-only /opt ($COLD_RUNS fresh containers each; $(conditions))"
    local with without slim sam=""
    with=$(cold_import "$set-bytecode" "$COLD_DIR/$set-bytecode.zip" "$stmt")
    without=$(cold_import "$set-no-bytecode" "$COLD_DIR/$set-no-bytecode.zip" "$stmt")
    slim=$(cold_import "$set-slim" "$COLD_DIR/$set-slim.zip" "$stmt")
    if [ -n "$sam_zip" ]; then sam=$(cold_import "$set-sam" "$sam_zip" "$stmt"); fi
    local r goal=""
    r=$(div "${without% *}" "${with% *}")
    [ "$set" != pandas ] && goal=">= 1.8x"
    result coldstart "$set: import, byte-code (mean, min ms)" "${with% *} ms, min ${with#* } ms"
    result coldstart "$set: import, --no-bytecode" "${without% *} ms, min ${without#* } ms"
    result coldstart "$set: import, --slim (byte-code)" "${slim% *} ms, min ${slim#* } ms"
    result coldstart "$set: speed-up of byte-code over --no-bytecode" "${r}x" "$goal" \
      "${goal:+$(verdict "$r" ge 1.8)}"
    # On a shared machine the fastest run is the least disturbed one.
    result coldstart "$set: speed-up of byte-code over --no-bytecode, fastest runs" \
      "$(div "${without#* }" "${with#* }")x"
    if [ -n "$sam" ]; then
      result coldstart "$set: import, SAM's layer" "${sam% *} ms, min ${sam#* } ms"
      r=$(div "${sam% *}" "${with% *}")
      result coldstart "$set: speed-up of byte-code over SAM's layer" "${r}x" "> 1x" "$(verdict "$r" ge 1.0001)"
    fi
    local s_full s_plain s_slim s_slim_plain
    s_full=$(stat -c %s "$COLD_DIR/$set-bytecode.zip")
    s_plain=$(stat -c %s "$COLD_DIR/$set-no-bytecode.zip")
    s_slim=$(stat -c %s "$COLD_DIR/$set-slim.zip")
    s_slim_plain=$(stat -c %s "$COLD_DIR/$set-slim-no-bytecode.zip")
    result coldstart "$set: ZIP size byte-code / --no-bytecode / --slim / --slim --no-bytecode" \
      "$(mb "$s_full") / $(mb "$s_plain") / $(mb "$s_slim") / $(mb "$s_slim_plain") MB"
    local removed
    removed=$(grep -h -A8 'slim removed' "$COLD_DIR/$set-slim.log" | sed -n 's/^note: *//p' | tr '\n' ';' | sed 's/;$//')
    [ -n "$removed" ] && result coldstart "$set: what --slim removed" "$removed"
    if [ -n "$sam_zip" ]; then
      local s_sam
      s_sam=$(stat -c %s "$sam_zip")
      r=$(div "$s_slim" "$s_sam")
      result coldstart "$set: SAM's ZIP; --slim / SAM's" "$(mb "$s_sam") MB; ${r}x" "<= 0.90x" "$(verdict "$r" le 0.90)"
      # SAM's layer carries no byte-code: without it too, the sizes compare the same files.
      r=$(div "$s_slim_plain" "$s_sam")
      result coldstart "$set: --slim --no-bytecode / SAM's ZIP" "${r}x" "<= 0.90x" "$(verdict "$r" le 0.90)"
    fi
  done < <(cold_sets)
}
