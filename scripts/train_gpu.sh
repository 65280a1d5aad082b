#!/usr/bin/env bash
# The demo model's clip schedule on a GPU for a fixed time, resumable, in one call:
#   scripts/train_gpu.sh [MINUTES] [OUT] [TRAIN FLAGS...]   (defaults: 8 minutes; OUT: $OUT, else outputs/train-gpu)
# Trains the schedule $SCHEDULE (default demo-clips, from the bundled weights; any name in
# sam2core/train/schedules.py, e.g. SCHEDULE=demo-scratch-joint: from random weights, images and
# clips together) on CUDA in `auto` precision
# (bfloat16 on a GPU that has it) for MINUTES, then saves into OUT the resumable
# train_state.pt, log.jsonl, losses.png and the weights (checkpoint.pt, Meta's format), and prints
# the step time. Run it again with the same OUT (copied back from the GPU machine) to go on: it
# resumes when OUT holds a train_state.pt, the CPU run's (checkpoints/demo-v2) included. TRAIN FLAGS are added to python -m sam2core.train's
# (a later flag wins); DEVICE=cpu runs it on the CPU (what test/test_train.py does with a tiny
# budget), PRECISION overrides auto. Set-up: scripts/cuda_python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-8}
OUT=${2:-${OUT:-outputs/train-gpu}}
shift $(($# < 2 ? $# : 2))
DEVICE=${DEVICE:-cuda}
started=$SECONDS
. scripts/cuda_python.sh
resume=()
[[ -f $OUT/train_state.pt ]] && resume=(--resume)
"$PY" -c 'import torch; print(f"torch {torch.__version__}, " + (torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"))'
echo "set-up took $((SECONDS - started)) s"
"$PY" -m sam2core.train --schedule "${SCHEDULE:-demo-clips}" --device "$DEVICE" --precision "${PRECISION:-auto}" \
    --minutes "$MINUTES" --out "$OUT" "${resume[@]}" "$@"
echo "total $((SECONDS - started)) s; results in $OUT"
