"""What a training step costs, and what makes it cheaper: one run, the variants interleaved.

    python benchmarks/train_step.py --threads 1 --steps 6
    python benchmarks/train_step.py --precision float32 bfloat16 --compile off on --json out.json

Every variant (precision x compile) gets its own copy of the same weights and trains on the
same batches of the demo model's clip stage (8 clips of 8 frames at its 128 px: the schedule
demo-clips of sam2core/train/schedules.py). The variants take turns, one step each, so a machine whose load
changes during the run slows them alike; the first --warm-up steps of each (compilation) are
reported apart. Clip generation (numpy, on the training thread) is timed on its own.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sam2core.build import build_model
from sam2core.precision import PRECISIONS, choose_precision
from sam2core.train.__main__ import parse_args, training_config
from sam2core.train.compiling import COMPILE_CHOICES, compile_for_training
from sam2core.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sam2.1_hiera_demo")
    parser.add_argument("--init", default="default", help="checkpoint, or 'default': the bundled weights")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--warm-up", type=int, default=2, help="untimed first steps per variant")
    parser.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], choices=PRECISIONS)
    parser.add_argument(
        "--compile",
        nargs="+",
        default=list(COMPILE_CHOICES),
        choices=COMPILE_CHOICES,
        help="torch.compile nothing or the image encoder (sam2core.train.compiling)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads; none: torch's choice")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = build_model(args.model, checkpoint=args.init, device=args.device)
    out = Path(tempfile.mkdtemp(prefix="train_step_"))
    config = training_config(parse_args(["--schedule", "demo-clips", "--out", str(out)]), base.config.image_size)

    variants = {}
    for precision, compiled in [(p, c) for p in args.precision for c in args.compile]:
        model = copy.deepcopy(base)
        compile_for_training(model, compiled)
        name = f"{choose_precision(precision, torch.device(args.device)).name}, compile {compiled}"
        variants[name] = Trainer(model, config, out / name.replace(", ", "_"), precision=precision)
    sampler = Trainer(copy.deepcopy(base), config, out / "sampler")

    sample_seconds, seconds = [], {name: [] for name in variants}
    for _ in tqdm(range(args.warm_up + args.steps), desc="rounds", unit="round"):
        started = time.perf_counter()
        batch = sampler.sample()
        sample_seconds.append(time.perf_counter() - started)
        for name, trainer in variants.items():
            started = time.perf_counter()
            trainer.step(batch)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name].append(time.perf_counter() - started)

    baseline = next(iter(variants))
    baseline_ms = 1000 * np.mean(seconds[baseline][args.warm_up :])
    print(f"\n{args.model} clip stage, {config.clips_per_step} clips x {config.clip_length} frames at "
          f"{base.config.image_size} px, {torch.get_num_threads()} CPU threads, device {args.device}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"clip generation: {1000 * np.mean(sample_seconds):.0f} ms a step")
    print(f"{'variant':<26}{'step (ms)':>10}{'vs first':>10}{'warm-up steps (s)':>20}")
    rows = []
    for name, times in seconds.items():
        step_ms = 1000 * float(np.mean(times[args.warm_up :]))
        warm_up_s = float(np.sum(times[: args.warm_up]))
        print(f"{name:<26}{step_ms:>10.0f}{baseline_ms / step_ms:>9.2f}x{warm_up_s:>20.1f}")
        rows.append({"variant": name, "step_ms": step_ms, "speedup": baseline_ms / step_ms, "warm_up_s": warm_up_s})
    if args.json:
        record = {
            "command": " ".join(["python benchmarks/train_step.py", *sys.argv[1:]]),
            "model": args.model, "image_size": base.config.image_size, "device": args.device,
            "cpu_threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg()[0],
            "clip_generation_ms": 1000 * float(np.mean(sample_seconds)), "steps": rows, "torch": torch.__version__,
        }  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
