#!/usr/bin/env bash
# The main command: the sam2_tracker node on the bundled demonstration model, fed by a synthetic
# camera (held-out scenes with ground truth). Writes outputs/demo/demo.mp4 (the overlay video),
# outputs/demo/summary.json (scores, frames, latency) and outputs/demo/logs/, and prints the scores.
# Arguments go to python -m sam2_ros.demo.demo (e.g. scripts/demo.sh --sequences 5 --prompt click).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
exec python -m sam2_ros.demo.demo "$@"
