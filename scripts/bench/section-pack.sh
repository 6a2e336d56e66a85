# shellcheck shell=bash disable=SC2153
# Section `pack`: "Byte-reproducible, streaming, fast layer packaging".
#
# What is measured, and how:
# - Input 1, a real tree: numpy + lxml + requests installed by pip (Debian 12, Python 3.11, pip's
#   defaults, so .pyc files and bin/ scripts included) in a throw-away container and copied out
#   with `docker cp` (~85 MB, ~1,900 files, numpy's ~25 MB OpenBLAS library). Made once and kept
#   in the work folder, so later runs pack the same bytes; delete trees/real* to remake it.
# - Input 2, a generated tree (gen_tree.py, fixed seed): ~300 MB of compressible and incompressible
#   files, several over 4 MB.
# - In one hyperfine run per tree, pairwise, page cache warm, outputs deleted before every run:
#   `fclayer pack DIR -o x.zip`  vs  `zip -r -q -X -6` (Info-ZIP)  vs  `python3 -m zipfile -c`
#   (the generated tree skips python's zipfile: slow and adds nothing). Reported: mean times,
#   ratio zip/fclayer (goal >= 3x), ZIP sizes and ratio fclayer/zip (goal <= 1.01x).
# - fclayer pack -j 1 vs the default (all cores), same hyperfine run; the ZIPs must be identical.
# - fclayer's peak RSS (`/usr/bin/time -f %M`, max over 3 runs) on both trees (goal <= 64 MiB).
# - FCLAYER_BENCH_PERF=1 also records a `perf` profile of one pack of the real tree and writes
#   the top symbols to the work folder.
# Goals that are not met are reported as such; nothing here is tuned to meet them.

PACK_OUT=$WORK/out/pack
REAL_TREE=$WORK/trees/real
LARGE_TREE=$WORK/trees/large
LARGE_MB=${FCLAYER_BENCH_LARGE_MB:-300}
LARGE_RUNS=${FCLAYER_BENCH_LARGE_RUNS:-3}

# numpy + lxml + requests, installed by pip into /opt/python of a fresh container, copied out.
make_real_tree() {
  if [ -f "$REAL_TREE.complete" ]; then
    log "real tree present ($REAL_TREE; delete $REAL_TREE* to remake it)"
    return 0
  fi
  ensure_pip_image
  log "making the real tree: pip install numpy lxml requests in a container"
  local name=fclayer-bench-tree-$RUN_ID ca_args
  mapfile -t ca_args < <(ca_run_args)
  rm -rf "$REAL_TREE" "$REAL_TREE.tmp" "$REAL_TREE.complete"
  mkdir -p "$REAL_TREE.tmp"
  docker run --name "$name" --label "$BENCH_LABEL.run=$RUN_ID" "${ca_args[@]}" "$PIP_IMAGE" \
    python3 -m pip install -q --target /opt/python numpy lxml requests >&2
  docker cp "$name:/opt/python" "$REAL_TREE.tmp/"
  docker rm -f "$name" >/dev/null
  find "$REAL_TREE.tmp/python" -maxdepth 1 -name '*.dist-info' -printf '%f\n' |
    sed 's/\.dist-info$//' | sort >"$REAL_TREE.tmp.complete"
  mv "$REAL_TREE.tmp" "$REAL_TREE"
  mv "$REAL_TREE.tmp.complete" "$REAL_TREE.complete"
}

make_large_tree() {
  if [ -f "$LARGE_TREE.complete" ] && [ "$(cat "$LARGE_TREE.complete")" = "$LARGE_MB" ]; then
    log "generated tree present ($LARGE_TREE)"
    return 0
  fi
  log "generating a ${LARGE_MB} MiB tree"
  rm -rf "$LARGE_TREE" "$LARGE_TREE.complete"
  mkdir -p "$LARGE_TREE"
  "$PY" "$BENCH_SCRIPTS/gen_tree.py" "$LARGE_TREE" "$LARGE_MB" >&2
  echo "$LARGE_MB" >"$LARGE_TREE.complete"
}

# tree_facts LABEL DIR: bytes, files, biggest file.
tree_facts() {
  local label=$1 dir=$2 bytes files big
  bytes=$(find "$dir/python" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  files=$(find "$dir/python" -type f | wc -l)
  big=$(find "$dir/python" -type f -printf '%s %P\n' | sort -n | tail -n 1)
  result pack "$label: input" "$(mb "$bytes") MB in $files files, $(find "$dir/python" -type f -size +4M | wc -l) over 4 MiB; largest ${big#* } ($(mb "${big%% *}") MB)"
}

# peak_rss DIR OUT [ARGS...]: max of %M over 3 runs of fclayer pack, in KiB.
peak_rss() {
  local dir=$1 out=$2 max=0 kb
  shift 2
  for _ in 1 2 3; do
    rm -f "$out"
    /usr/bin/time -f %M -o "$PACK_OUT/rss.txt" "$FCLAYER" -q pack "$dir" -o "$out" "$@"
    kb=$(tail -n 1 "$PACK_OUT/rss.txt")
    if [ "$kb" -gt "$max" ]; then max=$kb; fi
  done
  echo "$max"
}

# compare_zippers LABEL DIR RUNS WITH_PYTHON: one hyperfine run, rows for times, ratios, sizes.
compare_zippers() {
  local label=$1 dir=$2 runs=$3 with_python=$4 json=pack-$1
  local fc=$PACK_OUT/$label-fclayer.zip zp=$PACK_OUT/$label-zip.zip py=$PACK_OUT/$label-pyzipfile.zip
  # One --prepare per command (hyperfine pairs them in order): each deletes only its own output,
  # so every command's last ZIP is still there afterwards. zip -r would append to an old one.
  local cmds=(--prepare "rm -f $fc" -n fclayer "$FCLAYER -q pack $dir -o $fc"
    --prepare "rm -f $zp" -n zip "zip -r -q -X -6 $zp python")
  local names="fclayer / zip"
  if [ "$with_python" = yes ]; then
    cmds+=(--prepare "rm -f $py" -n python-zipfile "$PY -m zipfile -c $py python")
    names="fclayer / zip / python"
  fi
  log "$label tree: $names ($runs runs each)"
  local before
  before=$(conditions)
  (cd "$dir" && bench "$json" --runs "$runs" --warmup 1 "${cmds[@]}")
  local j=$WORK/hyperfine/$json.json
  result pack "$label: conditions at start / end" "$before / $(conditions)"
  result pack "$label: fclayer pack (default threads: $(nproc))" "$(hf_cell "$j" fclayer)"
  result pack "$label: zip -r -q -X -6" "$(hf_cell "$j" zip)"
  if [ "$with_python" = yes ]; then
    result pack "$label: python3 -m zipfile -c" "$(hf_cell "$j" python-zipfile)"
  fi
  local ratio ratio_min
  ratio=$(div "$(hf "$j" zip mean)" "$(hf "$j" fclayer mean)")
  ratio_min=$(div "$(hf "$j" zip min)" "$(hf "$j" fclayer min)")
  result pack "$label: speed-up zip / fclayer (mean; min/min in brackets)" "${ratio}x (${ratio_min}x)" ">= 3x" \
    "$(verdict "$ratio" ge 3)"
  result pack "$label: CPU time zip / fclayer (user + system; context for a busy machine)" \
    "$(div "$(hf "$j" zip cpu)" "$(hf "$j" fclayer cpu)")x"
  if [ "$with_python" = yes ]; then
    result pack "$label: speed-up python zipfile / fclayer (mean)" \
      "$(div "$(hf "$j" python-zipfile mean)" "$(hf "$j" fclayer mean)")x"
  fi
  local s_fc s_zip
  s_fc=$(stat -c %s "$fc")
  s_zip=$(stat -c %s "$zp")
  local sizes="$s_fc / $s_zip"
  if [ "$with_python" = yes ]; then
    sizes="$sizes / $(stat -c %s "$py")"
  fi
  result pack "$label: ZIP size $names [bytes]" "$sizes"
  result pack "$label: size ratio fclayer / zip" "$(div "$s_fc" "$s_zip" 4)x" "<= 1.01x" \
    "$(verdict "$(div "$s_fc" "$s_zip" 6)" le 1.01)"
  "$PY" "$BENCH_SCRIPTS/report.py" zipcompare "$fc" "$zp" >"$PACK_OUT/$label-size-diff.txt"
  result pack "$label: size difference fclayer - zip" "$(head -n 1 "$PACK_OUT/$label-size-diff.txt")"
}

# fclayer -j 1 vs default threads, and that both write the same bytes.
compare_threads() {
  local label=$1 dir=$2 runs=$3 json=pack-$1-threads
  local one=$PACK_OUT/$label-j1.zip all=$PACK_OUT/$label-jdefault.zip
  log "$label tree: fclayer pack -j 1 vs default ($runs runs each)"
  bench "$json" --runs "$runs" --warmup 1 \
    --prepare "rm -f $one" -n "fclayer -j 1" "$FCLAYER -q pack $dir -o $one -j 1" \
    --prepare "rm -f $all" -n "fclayer default" "$FCLAYER -q pack $dir -o $all"
  local j=$WORK/hyperfine/$json.json
  result pack "$label: fclayer pack -j 1" "$(hf_cell "$j" "fclayer -j 1")"
  result pack "$label: fclayer pack default threads ($(nproc))" "$(hf_cell "$j" "fclayer default")"
  result pack "$label: speed-up -j 1 / default (mean)" \
    "$(div "$(hf "$j" "fclayer -j 1" mean)" "$(hf "$j" "fclayer default" mean)")x"
  local h1 h2 h3
  h1=$(sha256sum "$one" | cut -c1-16)
  h2=$(sha256sum "$all" | cut -c1-16)
  h3=$(sha256sum "$PACK_OUT/$label-fclayer.zip" | cut -c1-16)
  local same="NOT met"
  if [ "$h1" = "$h2" ] && [ "$h2" = "$h3" ]; then same=met; fi
  result pack "$label: same bytes from -j 1, default, and the earlier run (sha256)" "$h1 / $h2 / $h3" \
    "identical" "$same"
}

profile_pack() {
  command -v perf >/dev/null 2>&1 || need_cmd perf linux-perf
  local data=$WORK/perf/pack-real.data out=$PACK_OUT/perf.zip
  mkdir -p "$WORK/perf"
  log "perf record of one fclayer pack of the real tree"
  perf record -q -g -o "$data" -- "$FCLAYER" -q pack "$REAL_TREE" -o "$out" -j 1 >/dev/null 2>&1
  perf report -i "$data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^$' |
    grep -E '^ +[0-9]' | head -n 25 >"$WORK/perf/pack-real-top.txt"
  log "top symbols (self time) in $WORK/perf/pack-real-top.txt:"
  head -n 12 "$WORK/perf/pack-real-top.txt" >&2
  result pack "real: perf profile (-j 1), top self-time symbols" "$WORK/perf/pack-real-top.txt"
}

section_main() {
  need_cmd zip
  need_cmd unzip
  mkdir -p "$PACK_OUT"
  make_real_tree
  make_large_tree
  tree_facts real "$REAL_TREE"
  result pack "real: packages" "$(paste -sd ' ' "$REAL_TREE.complete")"
  tree_facts large "$LARGE_TREE"

  compare_zippers real "$REAL_TREE" "$RUNS" yes
  compare_threads real "$REAL_TREE" "$RUNS"
  local kb
  kb=$(peak_rss "$REAL_TREE" "$PACK_OUT/rss-real.zip")
  result pack "real: fclayer pack peak RSS (max of 3)" "$(mib "$kb") MiB" "<= 64 MiB" "$(verdict "$(mib "$kb")" le 64)"
  kb=$(peak_rss "$REAL_TREE" "$PACK_OUT/rss-real.zip" -j 1)
  result pack "real: fclayer pack -j 1 peak RSS (max of 3)" "$(mib "$kb") MiB" "<= 64 MiB" "$(verdict "$(mib "$kb")" le 64)"

  compare_zippers large "$LARGE_TREE" "$LARGE_RUNS" no
  compare_threads large "$LARGE_TREE" "$LARGE_RUNS"
  kb=$(peak_rss "$LARGE_TREE" "$PACK_OUT/rss-large.zip")
  result pack "large: fclayer pack peak RSS (max of 3)" "$(mib "$kb") MiB" "<= 64 MiB" "$(verdict "$(mib "$kb")" le 64)"

  if [ "${FCLAYER_BENCH_PERF:-0}" = 1 ]; then
    profile_pack
  fi
  rm -f "$PACK_OUT"/rss-*.zip "$PACK_OUT/perf.zip"
}
