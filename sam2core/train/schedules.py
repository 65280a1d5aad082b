"""Named training schedules: the settings of runs worth repeating, written once.

`python -m sam2core.train --schedule NAME [FLAGS]` trains with the schedule's flags; FLAGS given
beside it win (e.g. `--steps 500`). scripts/train_gpu.sh and benchmarks/train_step.py read the
same entries, so a run on a lent GPU continues the CPU run's state (train_state.pt) unchanged.
"""

from __future__ import annotations

SCHEDULES: dict[str, tuple[str, ...]] = {
    # The demo model's second run (docs/demo_model/training.md): the memory path on clips, every
    # part trained, from the bundled weights, occlusions and exits in most clips.
    "demo-clips": (
        "--stage", "clips", "--init", "default", "--steps", "6000", "--clips-per-step", "8",
        "--learning-rate", "3e-4", "--warmup-steps", "100", "--grad-clip", "1.0", "--ema-decay", "0.999",
        "--occlusion-prob", "0.9", "--leave-prob", "0.7", "--evaluate-every", "300", "--checkpoint-every", "25",
        "--prompt-weights", "0.25", "0.25", "0.5",
    ),
    # The paired resolution comparison (docs/demo_model/training.md): 500 steps from the bundled
    # weights with the run's clips and losses, no weight average; one arm adds --image-size 160.
    "demo-compare": (
        "--schedule", "demo-clips", "--steps", "500", "--warmup-steps", "25", "--ema-decay", "0",
        "--evaluate-every", "250",
    ),
    # The paired training-mix comparison: demo-compare's run drawing half its clips from the geometric
    # family's training seeds, judged on the tabletop family that no run trains on.
    "demo-mix": ("--schedule", "demo-compare", "--families", "cutouts", "geometric"),
    # Its continuation (docs/demo_model/training.md), from demo-mix's weights: 1,000 steps more.
    "demo-mix-more": ("--schedule", "demo-mix", "--steps", "1000", "--evaluate-every", "250"),
    # The next continuation, from demo-mix-more's weights on new clips: 1,500 steps at a third of
    # the learning rate (the arm at 3e-4 gained nothing on the family no run trains on).
    "demo-mix-long": ("--schedule", "demo-mix-more", "--steps", "1500", "--seed", "1", "--learning-rate", "1e-4"),
    # The paired joint-training comparison, from the bundled weights (demo-mix-long's) on new clips:
    # demo-mix-next goes on as demo-mix-long did; demo-mix-joint also trains 8 single frames a step.
    "demo-mix-next": ("--schedule", "demo-mix-long", "--seed", "2"),
    "demo-mix-joint": ("--schedule", "demo-mix-next", "--images-per-step", "8"),
    # From random weights, single frames and clips trained together from the first step (no stage
    # images first), on both training families: the demo size's 6,000-step run (its weights in
    # checkpoints/scratch6k), and the recipe for a wider model, which cannot start from the bundled
    # weights. demo-wide-joint is the same for sam2.1_hiera_demo_wide.
    "demo-scratch-joint": (
        "--stage", "clips", "--steps", "6000", "--clips-per-step", "8", "--images-per-step", "8",
        "--learning-rate", "1e-3", "--warmup-steps", "100", "--grad-clip", "1.0", "--ema-decay", "0.999",
        "--occlusion-prob", "0.9", "--leave-prob", "0.7", "--families", "cutouts", "geometric",
        "--evaluate-every", "300", "--checkpoint-every", "25", "--prompt-weights", "0.25", "0.25", "0.5",
    ),
    "demo-wide-joint": ("--schedule", "demo-scratch-joint", "--model", "sam2.1_hiera_demo_wide"),
    # Its continuation, from those weights on new clips: a second cosine cycle of 4,000 steps at
    # 3e-4 (the first run gained most in the last third of its decay).
    "demo-scratch-more": (
        "--schedule", "demo-scratch-joint", "--init", "checkpoints/scratch6k/checkpoint.pt",
        "--steps", "4000", "--learning-rate", "3e-4", "--seed", "1",
    ),
    # The paired width comparison on a CPU: 1,200 steps of each from scratch, no weight average.
    "demo-scratch-compare": ("--schedule", "demo-scratch-joint", "--steps", "1200", "--ema-decay", "0"),
    "demo-wide-compare": ("--schedule", "demo-scratch-compare", "--model", "sam2.1_hiera_demo_wide"),
}  # fmt: skip


def with_schedule(argv: list[str]) -> list[str]:
    """`argv` with `--schedule NAME` (or `--schedule=NAME`) replaced by the schedule's flags, put
    first so that the flags given win (a schedule may name the one it builds on); unchanged without
    it. KeyError for an unknown or missing NAME."""
    argv = [part for flag in argv for part in (flag.split("=", 1) if flag.startswith("--schedule=") else [flag])]
    if "--schedule" not in argv:
        return argv
    at = argv.index("--schedule")
    if at + 1 == len(argv) or argv[at + 1] not in SCHEDULES:
        raise KeyError(f"--schedule takes one of: {', '.join(SCHEDULES)}")
    return with_schedule([*SCHEDULES[argv[at + 1]], *argv[:at], *argv[at + 2 :]])
