#!/usr/bin/env bash
# Build a held-out case set for the watermark remover: the shared clips mirrored left-right (other
# scenery under each of the mark's positions) and a different seed (other phases, orders and handle
# styles) than the shared set the engine was developed on. Needs ../shared (data and wm_eval).
# Usage: bench/heldout_cases.sh [OUT]   (default /tmp/wm_cases; the cases land in OUT/flip)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED:-$here/../shared}"
out="${1:-/tmp/wm_cases}"
clips="$(mktemp -d)"
trap 'rm -rf "$clips"' EXIT
for d in "$shared"/data/clips/*/; do
  name="$(basename "$d")_flip"
  mkdir -p "$clips/$name"
  if ls "$d"*.mp4 >/dev/null 2>&1; then
    ffmpeg -v error -y -i "$(ls "$d"*.mp4 | head -1)" -vf hflip -c:v libx264 -crf 8 -preset fast -an "$clips/$name/$name.mp4"
  else  # a folder of numbered JPEGs
    ffmpeg -v error -y -framerate 30 -i "$d%05d.jpg" -vf hflip -c:v libx264 -crf 8 -preset fast "$clips/$name/$name.mp4"
  fi
done
python "$shared/tools/wm_eval/make_cases.py" --clips "$clips" --set flip --seed 777 --out "$out"
