#!/usr/bin/env bash
# Build a held-out case set for the watermark remover: the shared clips mirrored left-right (other
# scenery under each of the mark's positions) and a different seed (other phases, orders and handle
# styles) than the shared set the engine was developed on. Needs ../shared (data and wm_eval).
# Usage: bench/heldout_cases.sh [OUT]   (default /tmp/wm_cases; the cases land in OUT/flip)
# A third set (forty-eighth session): SET=vflip SEED=4242 FILTER=vflip,eq=gamma=0.8 bench/heldout_cases.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED:-$here/../shared}"
out="${1:-/tmp/wm_cases}"
set_name="${SET:-flip}"
seed="${SEED:-777}"
filter="${FILTER:-hflip}"
clips="$(mktemp -d)"
trap 'rm -rf "$clips"' EXIT
for d in "$shared"/data/clips/*/; do
  name="$(basename "$d")_$set_name"
  mkdir -p "$clips/$name"
  if ls "$d"*.mp4 >/dev/null 2>&1; then
    ffmpeg -v error -y -i "$(ls "$d"*.mp4 | head -1)" -vf "$filter" -c:v libx264 -crf 8 -preset fast -an "$clips/$name/$name.mp4"
  else  # a folder of numbered JPEGs
    ffmpeg -v error -y -framerate 30 -i "$d%05d.jpg" -vf "$filter" -c:v libx264 -crf 8 -preset fast "$clips/$name/$name.mp4"
  fi
done
python "$shared/tools/wm_eval/make_cases.py" --clips "$clips" --set "$set_name" --seed "$seed" --out "$out"
