#!/usr/bin/env bash
# The tracker benchmark on a CUDA machine, in one call of under 8 minutes:
#   benchmarks/gpu.sh [OUT]        (default OUT: $OUT if set, else outputs/gpu)
# sam2.1_hiera_t and sam2.1_hiera_l at 1024 px, 1 / 3 / 8 objects, float32 and bfloat16, eager
# and torch.compile, against Meta's predictor (random weights shared by both sides, as in
# benchmarks/bench_tracker.py). Writes OUT/<model>.json per model and OUT/table.md.
#
# Set-up: scripts/cuda_python.sh (a Python with a CUDA torch), plus Meta's sam2 as the reference.
# Each model run has its own time limit, so one slow model cannot take the whole budget.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-outputs/gpu}}
mkdir -p "$OUT"
started=$SECONDS

CUDA_PYTHON_IMPORTS="hydra, iopath" CUDA_PYTHON_PACKAGES="hydra-core iopath"
. scripts/cuda_python.sh
"$PY" -c 'import sam2' 2>/dev/null || pip_install --no-deps sam2==1.1.0
"$PY" -c 'import torch; print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")' | tee "$OUT/device.txt"
echo "set-up took $((SECONDS - started)) s"

for model in sam2.1_hiera_t sam2.1_hiera_l; do
    timeout 200 "$PY" benchmarks/bench_tracker.py --device cuda --size "$model" --image-size 1024 \
        --objects 1 3 8 --timed 8 --precision float32 bfloat16 --compile off on --memory-frames \
        --json "$OUT/$model.json" 2>&1 | tee "$OUT/$model.log" || echo "$model: stopped (see $OUT/$model.log)"
done

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
lines = ["| model | objects | precision | compile | ours (ms) | reference (ms) | reference / ours | IoU with reference | first frame (s) | graphs |",
         "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for path in sorted(out.glob("*.json")):
    for row in json.loads(path.read_text())["latency"]:
        lines.append(
            f"| {path.stem} | {row['objects']} | {row['precision']} | {'on' if row['compile'] else 'off'} | {row['ours_ms']:.1f} "
            f"| {row.get('reference_ms', float('nan')):.1f} | {row.get('speedup', float('nan')):.2f} "
            f"| {row.get('mask_iou_with_reference', float('nan')):.3f} | {row['first_frame_s']:.1f} | {row['graphs_compiled']} |"
        )
(out / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "total $((SECONDS - started)) s; results in $OUT"
