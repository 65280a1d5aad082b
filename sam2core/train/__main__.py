"""Train or fine-tune SAM 2 on synthetic clips.

From scratch, the demo model in two stages:
    python -m sam2core.train --stage images --steps 3000 --out runs/demo-images
    python -m sam2core.train --stage clips --steps 2500 --init runs/demo-images/checkpoint.pt \\
        --out runs/demo-clips
Fine-tuning one of Meta's checkpoints (its format is ours):
    python -m sam2core.train --model sam2.1_hiera_t --init sam2.1_hiera_tiny.pt \\
        --learning-rate 5e-6 --grad-clip 0.1 --losses sam2 --stage clips --steps 500 \
        --out runs/tiny-ft
Writes OUT/checkpoint.pt (Meta's format, with the training record), OUT/log.jsonl and
OUT/losses.png, and scores the model on held-out synthetic sequences every --evaluate-every steps
(also when it trains on --data: the progress score is always on synthetic scenes).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

from sam2core.build import build_model
from sam2core.config import MODEL_NAMES
from sam2core.data import FAMILIES
from sam2core.data.datasets import DATA_FORMATS, read_data
from sam2core.data.davis import DatasetError
from sam2core.evaluation import quick_score
from sam2core.precision import PRECISIONS
from sam2core.train import distributed
from sam2core.train.compiling import COMPILE_CHOICES, compile_for_training
from sam2core.train.losses import BALANCED, SAM2_FINE_TUNING, LossWeights
from sam2core.train.own_data import OwnDataTrainer
from sam2core.train.schedules import SCHEDULES, with_schedule
from sam2core.train.trainer import STAGES, Trainer, TrainingConfig

LOSS_RECIPES = {"scratch": LossWeights(), "balanced": BALANCED, "sam2": SAM2_FINE_TUNING}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command's arguments, a --schedule expanded (sam2core.train.schedules)."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return parser.parse_args(with_schedule(argv))
    except KeyError as error:
        parser.error(error.args[0])


def _parser() -> argparse.ArgumentParser:
    defaults = TrainingConfig()
    parser = argparse.ArgumentParser(prog="python -m sam2core.train", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default="sam2.1_hiera_demo", choices=MODEL_NAMES, help="registered model name")
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="start from a named schedule's settings (sam2core/train/schedules.py); flags given beside it win",
    )
    parser.add_argument(
        "--init", help="checkpoint to start from (Meta's format), or 'default': the bundled weights; none: random"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        help="model input side in pixels, also the side of the training clips; none: the model's",
    )
    parser.add_argument("--out", required=True, help="output folder (checkpoint.pt, log.jsonl, losses.png)")
    parser.add_argument(
        "--stage",
        default=defaults.stage,
        choices=STAGES,
        help="'images': single frames with corrective clicks; 'clips': the memory path on clips",
    )
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps")
    parser.add_argument(
        "--clips-per-step",
        type=int,
        default=defaults.clips_per_step,
        help="synthetic clips per step (the batch; each brings 1-3 objects)",
    )
    parser.add_argument("--clip-length", type=int, default=defaults.clip_length, help="frames per clip")
    parser.add_argument(
        "--images-per-step",
        type=int,
        default=defaults.images_per_step,
        help="stage clips: single frames also trained each step, with the clicks and corrections of stage images",
    )
    parser.add_argument(
        "--freeze-image-encoder",
        action="store_true",
        help="keep the trunk and neck as --init has them (stage clips: faster, and keeps stage images' features)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=defaults.learning_rate,
        help="AdamW's peak learning rate, after the warm-up",
    )
    parser.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="largest gradient norm (L2)")
    parser.add_argument(
        "--warmup-steps", type=int, default=defaults.warmup_steps, help="steps of linear learning-rate warm-up"
    )
    parser.add_argument(
        "--evaluate-every",
        type=int,
        default=defaults.evaluate_every,
        help="steps between quick scores on held-out synthetic scenes (also with --data)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=defaults.checkpoint_every,
        help="steps between checkpoints (checkpoint.pt and the resumable train_state.pt)",
    )
    parser.add_argument(
        "--prompt-weights",
        type=float,
        nargs=3,
        default=defaults.prompt_weights,
        metavar=("CLICK", "BOX", "MASK"),
        help="how often each kind of first prompt is drawn",
    )
    parser.add_argument(
        "--losses",
        default="scratch",
        choices=LOSS_RECIPES,
        help="loss weights: 'scratch' (cross-entropy + dice), 'balanced' (class-balanced cross-entropy + dice) "
        "or 'sam2' (SAM 2's focal + dice)",
    )
    parser.add_argument(
        "--object-score-weight",
        type=float,
        default=defaults.loss.object_score,
        help="weight of the object score's cross-entropy (visible or not) in the loss",
    )
    parser.add_argument(
        "--ema-decay",
        type=float,
        default=defaults.ema_decay,
        help="decay of a moving average of the weights that checkpoints and evaluations use; 0: off",
    )
    parser.add_argument(
        "--occlusion-prob",
        type=float,
        default=defaults.scene.occlusion_prob,
        help="chance that a training clip hides one target behind an occluder for some frames",
    )
    parser.add_argument(
        "--leave-prob",
        type=float,
        default=defaults.scene.leave_prob,
        help="chance that a training clip has one target leave the frame and come back",
    )
    parser.add_argument(
        "--families",
        nargs="+",
        default=defaults.families,
        choices=[f.name for f in FAMILIES if f.training_clip is not None],
        help="scene families the training clips come from, drawn evenly (sam2core.data.families)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its train_state.pt (same settings required)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        help="stop after this many minutes (the state is saved: --resume continues); none: run all --steps",
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="arithmetic of the forward pass (autocast); weights and optimiser stay float32",
    )
    parser.add_argument(
        "--compile",
        default="off",
        choices=COMPILE_CHOICES,
        help="torch.compile nothing or the image encoder (see sam2core.train.compiling)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the clips, prompts and weights")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads; none: torch's choice")
    parser.add_argument("--data", type=Path, help="fine-tune on your own data instead of synthetic scenes")
    parser.add_argument(
        "--format",
        choices=DATA_FORMATS,
        default="davis",
        help="layout of --data (see sam2core.data.davis and sam2core.data.instance_masks)",
    )
    return parser


def training_config(args: argparse.Namespace, side: int) -> TrainingConfig:
    """The TrainingConfig the arguments ask for, on clips of `side` pixels (the model's input)."""
    defaults = TrainingConfig()
    return dataclasses.replace(
        defaults,
        stage=args.stage,
        steps=args.steps,
        clips_per_step=args.clips_per_step,
        clip_length=args.clip_length,
        images_per_step=args.images_per_step,
        train_image_encoder=not args.freeze_image_encoder,
        learning_rate=args.learning_rate,
        grad_clip=args.grad_clip,
        warmup_steps=args.warmup_steps,
        evaluate_every=args.evaluate_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        loss=dataclasses.replace(LOSS_RECIPES[args.losses], object_score=args.object_score_weight),
        prompt_weights=tuple(args.prompt_weights),
        ema_decay=args.ema_decay,
        families=tuple(args.families),
        scene=dataclasses.replace(
            defaults.scene, height=side, width=side, occlusion_prob=args.occlusion_prob, leave_prob=args.leave_prob
        ),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = build_model(args.model, checkpoint=args.init, image_size=args.image_size, device=args.device)
    config = training_config(args, model.config.image_size)
    rank = distributed.start(args.device) if distributed.world_size() > 1 else 0
    out = Path(args.out) if rank == 0 else Path(args.out) / f"rank{rank}"
    config = dataclasses.replace(config, seed=config.seed + rank)  # each rank its own batches
    evaluate = quick_score if rank == 0 else None
    if args.data is not None:
        try:
            sequences = read_data(args.data, args.format)
        except DatasetError as error:
            _parser().error(str(error))
        if args.stage != "images" and all(len(sequence.frames) == 1 for sequence in sequences):
            _parser().error(f"--format {args.format} has single images: only --stage images trains on it")
        trainer = OwnDataTrainer(model, config, out, sequences, evaluate=evaluate, precision=args.precision)
    else:
        trainer = Trainer(model, config, out, evaluate=evaluate, precision=args.precision)
    if args.resume:
        trainer.resume()
    if distributed.world_size() > 1:
        distributed.synchronise(trainer)
    compile_for_training(model, args.compile)
    first = trainer.steps_done
    started = time.monotonic()
    trainer.run(seconds=None if args.minutes is None else 60 * args.minutes)
    steps = trainer.steps_done - first
    if steps:
        seconds = time.monotonic() - started
        print(
            f"{steps} steps in {seconds:.0f} s ({seconds / steps:.2f} s a step, evaluations and compilation "
            f"included) on {args.device} in {trainer.precision.name}; {trainer.steps_done} of {config.steps} done"
        )
    if distributed.world_size() > 1:
        distributed.stop()


if __name__ == "__main__":
    main()
