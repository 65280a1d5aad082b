"""SAMURAI's video predictor as a test oracle for the tracker's motion-aware mode.

SAMURAI's code comes from PyPI as `absolutely-not-samurai==1.0.0`, whose top-level package is
named `sam2` like Meta's: `scripts/setup.sh --test` installs it on its own into
.venv/oracles/samurai, and it only ever runs in a child interpreter with that folder first on
its path, so the two `sam2` packages never meet in one process. `run_samurai` writes the inputs
(state dict, preprocessed frames, mask prompt) to a folder, runs this file as a script on them
and reads the results back from an npz file.

`require()` skips the calling test when the oracle is not installed, except in CI (environment
variable CI set), where a missing oracle is an error, as for Meta's oracle (test/oracle.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ORACLE_DIR = Path(__file__).resolve().parent.parent / ".venv" / "oracles" / "samurai"


def require() -> None:
    """Skip the calling test when SAMURAI's package is missing; fail instead in CI."""
    if (ORACLE_DIR / "sam2" / "modeling" / "sam2_base.py").is_file():
        return
    message = f"SAMURAI's oracle is not installed in {ORACLE_DIR} (scripts/setup.sh --test)"
    if os.environ.get("CI"):
        raise RuntimeError(message)
    import pytest

    pytest.skip(message)


@dataclasses.dataclass(frozen=True)
class SamuraiRun:
    """SAMURAI's outputs per frame for one object prompted by a mask on frame 0.

    mask_logits: (N, S, S) at the frames' size; object_scores: (N,) logits; pointers: (N, C);
    ious: (N,) predicted IoU of the kept mask (1 on the prompted frame); motion_ious: (N,) IoU of
    the kept mask's box with the Kalman filter's box, NaN where motion took no part.
    """

    mask_logits: np.ndarray
    object_scores: np.ndarray
    pointers: np.ndarray
    ious: np.ndarray
    motion_ious: np.ndarray


def run_samurai(
    state_dict: dict,
    images,
    first_frame: np.ndarray,
    mask: np.ndarray,
    *,
    config: str,
    image_size: int,
    folder: Path,
    overrides: tuple[str, ...] = (),
) -> SamuraiRun:
    """Run SAMURAI's predictor (config e.g. 'sam2.1_hiera_t', its `configs/samurai/` file) with
    `state_dict` on `images` (N, 3, S, S), already preprocessed; `first_frame` (S, S, 3) uint8
    is frame 0 as an image (the predictor's init_state reads a JPEG folder); `mask` (S, S) bool
    prompts object 1 on frame 0. overrides: extra Hydra overrides of the model config."""
    import torch

    folder = Path(folder)
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(first_frame).save(folder / "frames" / "0.jpg")
    torch.save({"state_dict": state_dict, "images": images, "mask": torch.from_numpy(mask)}, folder / "inputs.pt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ORACLE_DIR), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, __file__, str(folder), config, str(image_size), *overrides]
    subprocess.run(command, env=env, check=True, cwd=folder)
    with np.load(folder / "outputs.npz") as outputs:
        return SamuraiRun(**{field.name: outputs[field.name] for field in dataclasses.fields(SamuraiRun)})


def _run_in_child(folder: Path, config: str, image_size: int, overrides: list[str]) -> None:
    """The child side of run_samurai: SAMURAI's own `sam2` is the one on the path."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    inputs = torch.load(folder / "inputs.pt")
    predictor = build_sam2_video_predictor(
        f"configs/samurai/{config}.yaml",
        device="cpu",
        hydra_overrides_extra=[f"++model.image_size={image_size}", *overrides],
    )
    assert predictor.samurai_mode
    predictor.load_state_dict(inputs["state_dict"], strict=True)
    images = inputs["images"]
    with torch.inference_mode():
        state = predictor.init_state(str(folder / "frames"))
        state["images"] = images
        state["num_frames"] = len(images)
        state["cached_features"] = {}  # init_state encoded frame 0 from the JPEG
        predictor.add_new_mask(state, 0, 1, inputs["mask"])
        results = {}
        for frame, _, masks in predictor.propagate_in_video(state):
            outputs = state["output_dict"]
            out = outputs["cond_frame_outputs"].get(frame) or outputs["non_cond_frame_outputs"][frame]
            iou, motion_iou = out.get("best_iou_score"), out.get("kf_score")
            results[frame] = (
                masks[0, 0].float().numpy(),
                float(out["object_score_logits"].flatten()[0]),
                out["obj_ptr"].flatten().float().numpy(),
                1.0 if iou is None else float(iou.flatten()[0]),
                float("nan") if motion_iou is None else float(motion_iou.flatten()[0]),
            )
    columns = list(zip(*(results[frame] for frame in sorted(results))))
    np.savez(
        folder / "outputs.npz",
        mask_logits=np.stack(columns[0]),
        object_scores=np.array(columns[1]),
        pointers=np.stack(columns[2]),
        ious=np.array(columns[3]),
        motion_ious=np.array(columns[4]),
    )


if __name__ == "__main__":
    _run_in_child(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:])
