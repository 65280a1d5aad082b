#!/usr/bin/env bash
# The main command: the sam2_tracker node on the bundled demonstration model, fed by a synthetic
# camera (held-out scenes with ground truth), once without and once with a simulated detector's
# boxes. Writes outputs/demo/demo.mp4 (the overlay video), outputs/demo/summary.json (scores,
# frames, latency), outputs/demo/logs/ and the same for the second run in
# outputs/demo/with_detector/, and prints the scores of both.
# Arguments go to python -m sam2_ros.demo.demo (e.g. scripts/demo.sh --sequences 5 --detector off).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh
exec python -m sam2_ros.demo.demo "$@"
