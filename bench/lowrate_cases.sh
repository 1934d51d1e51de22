#!/usr/bin/env bash
# Build a lower-rate copy of a wm_eval case set: each case's input re-encoded with libx264 at a
# higher CRF (default 26), truth and metadata unchanged. The real Sora videos are coded at about
# CRF 24 (yellow_brick_road re-encodes to its own 1.83 Mbit/s between CRF 23 and 26), the wm_eval
# cases at CRF 18: this set shows what the codec's coarser errors do to detection and restoration.
# Usage: bench/lowrate_cases.sh SRC_SET_DIR OUT_SET_DIR [CRF]
set -euo pipefail
src="${1:?source case set, e.g. /tmp/wm_cases/shared}"
out="${2:?output case set, e.g. /tmp/wm_cases/crf26}"
crf="${3:-26}"
for d in "$src"/*/; do
  name="$(basename "$d")"
  mkdir -p "$out/$name"
  for f in "$d"*; do
    [ "$(basename "$f")" = input.mp4 ] || [ "$(basename "$f")" = floor.json ] || cp "$f" "$out/$name/"
  done
  ffmpeg -v error -y -i "$d/input.mp4" -c:v libx264 -preset medium -crf "$crf" -pix_fmt yuv420p \
    -c:a copy -movflags +faststart "$out/$name/input.mp4"
done
echo "$(ls -d "$out"/*/ | wc -l) cases in $out (inputs at CRF $crf)"
