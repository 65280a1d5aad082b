"""Make a trained model the bundled default: its weights in Meta's format and a training record.

    python -m sam2core.train.bundle runs/images/checkpoint.pt runs/clips/checkpoint.pt \\
        --evaluation runs/eval/evaluation.json
    python -m sam2core.train.bundle sam2core/weights/sam2.1_hiera_demo.pt checkpoints/demo-v2/checkpoint.pt \\
        --evaluation runs/eval/evaluation.json      # a run that started from the bundled weights

The weights are those of the last checkpoint; every checkpoint given (the stages, in order)
adds its training record, and a bundled file all of its own. Writes sam2core/weights/<model>.pt ({"model": state_dict,
"training": [records]}) and <model>.json (the model config, its size, the stages and the
evaluation), which `build_model(model, checkpoint="default")` and the node then load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from sam2core.build import BUNDLED_CHECKPOINTS, build_model, save_checkpoint


def bundle(
    model_name: str, checkpoints: list[Path], evaluation: Path | None = None, target: Path | None = None
) -> Path:
    """Write the bundled weights of `model_name` from `checkpoints` (stages in order) to `target`
    (default: the file `checkpoint="default"` loads) and its record beside it; the path."""
    model = build_model(model_name, checkpoint=checkpoints[-1])
    stages = [stage for path in checkpoints for stage in _training_records(path)]
    target = Path(target or BUNDLED_CHECKPOINTS[model_name])
    save_checkpoint(model, target, extra={"training": stages})
    record = {
        "model": model_name,
        "what": "demonstration model trained from scratch on sam2core's synthetic scenes; not SAM 2",
        "parameters": sum(p.numel() for p in model.parameters()),
        "file_bytes": target.stat().st_size,
        "training_seconds": sum(stage.get("seconds", 0.0) for stage in stages),
        "config": dataclasses.asdict(model.config),
        "stages": stages,
        "evaluation": json.loads(evaluation.read_text()) if evaluation else None,
    }
    target.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    return target


def _training_records(path: Path) -> list[dict]:
    """The training records a checkpoint carries: a trainer's one, or every one of a bundled file."""
    training = torch.load(path, weights_only=True).get("training", {})
    return training if isinstance(training, list) else [training]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sam2core.train.bundle", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("checkpoints", type=Path, nargs="+", help="the training stages' checkpoints, in order")
    parser.add_argument(
        "--model", default="sam2.1_hiera_demo", choices=sorted(BUNDLED_CHECKPOINTS), help="the bundled model to replace"
    )
    parser.add_argument(
        "--evaluation",
        type=Path,
        help="evaluation.json of `python -m sam2core.evaluation`; none: no evaluation recorded",
    )
    args = parser.parse_args(argv)
    print(f"wrote {bundle(args.model, args.checkpoints, args.evaluation)}")


if __name__ == "__main__":
    main()
