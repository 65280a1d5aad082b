"""Training: the losses on known inputs, simulated prompts, learning on a fixed batch, and the
command end to end (checkpoint in Meta's format, log, plot)."""

import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sam2core import build_model, save_checkpoint
from sam2core.data import TRAINING, training_clip
from sam2core.data.geometric import geometric_training_clip
from sam2core.evaluation import quick_score
from sam2core.point_labels import NEGATIVE, POSITIVE
from sam2core.train.__main__ import parse_args, training_config
from sam2core.train.bundle import bundle
from sam2core.train.losses import TERMS, LossWeights, segmentation_loss
from sam2core.train.prompts import correction_clicks, first_prompt
from sam2core.train.trainer import Trainer, TrainingConfig, _objects_of, saved_settings

SIZE = 64
SCENE = replace(TRAINING, height=SIZE, width=SIZE, num_frames=3)
REPO = Path(__file__).resolve().parents[1]


def _square(size: int, start: int, stop: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., start:stop, start:stop] = 1
    return mask


def _loss(logits, target, visible=True, score=5.0, weights=LossWeights()):
    """The loss terms as floats."""
    return segmentation_loss(
        logits, torch.full((1, logits.shape[1]), 0.5), torch.tensor([[score]]), target, torch.tensor([visible]), weights
    ).as_floats()


def test_empty_answer_costs_the_same_for_small_and_large_objects():
    small, large = _square(64, 30, 36), _square(64, 10, 50)
    empty = torch.full((1, 1, 64, 64), -10.0)
    assert _loss(empty, small)["dice"] == pytest.approx(_loss(empty, large)["dice"], abs=0.03)
    assert _loss(empty, small)["dice"] > 0.9


def test_a_right_mask_costs_little_and_only_the_best_candidate_is_trained():
    target = _square(64, 10, 40)
    right = (target * 2 - 1) * 10
    wrong = -right
    terms = _loss(right, target)
    assert terms["bce"] < 1e-3 and terms["dice"] < 1e-3
    assert terms["iou"] == pytest.approx(0.5)  # predicted 0.5, real 1
    both = _loss(torch.cat([wrong, right], 1), target)
    assert both["dice"] == pytest.approx(_loss(right, target)["dice"])


def test_absent_object_trains_only_its_score():
    target = torch.zeros(1, 1, 64, 64)
    anything = torch.randn(1, 1, 64, 64)
    terms = _loss(anything, target, visible=False, score=3.0)
    assert terms["dice"] == 0 and terms["bce"] == 0 and terms["iou"] == 0
    assert terms["object_score"] == pytest.approx(torch.nn.functional.softplus(torch.tensor(3.0)).item(), rel=1e-5)


def test_correction_clicks_go_to_the_error():
    mask = np.zeros((1, 32, 32), bool)
    mask[0, 4:20, 4:20] = True
    missed_half = mask.copy()
    missed_half[0, :, 12:] = False
    points, labels = correction_clicks(missed_half, mask, np.random.default_rng(0))
    x, y = points[0, 0]
    assert labels[0, 0] == POSITIVE and 12 <= x < 20 and 4 <= y < 20
    spurious = mask.copy()
    spurious[0, 24:32, 24:32] = True
    points, labels = correction_clicks(spurious, mask, np.random.default_rng(0))
    assert labels[0, 0] == NEGATIVE and (points[0, 0] >= 24).all()


def test_box_prompt_stays_near_the_object_and_inside_the_image():
    mask = np.zeros((1, 64, 64), bool)
    mask[0, 0:30, 40:64] = True
    for seed in range(20):
        box = first_prompt("box", mask, np.random.default_rng(seed), torch.device("cpu")).points[0]  # (2, 2)
        assert (box >= 0).all() and (box <= 64).all()
        assert abs(box[0, 0] - 40) <= 3 and abs(box[1, 1] - 30) <= 3


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "precision"), [("images", "float32"), ("clips", "float32"), ("clips", "bfloat16")])
def test_training_learns_a_fixed_batch(stage, precision):
    """Also in bfloat16 autocast (emulated where the CPU lacks it: slower, the same outcome)."""
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_demo", image_size=SIZE)
    # Mask prompts only: with a fixed batch the loss then changes only by learning, not by the
    # random kind and place of the prompts.
    config = TrainingConfig(
        stage=stage,
        steps=40,
        learning_rate=3e-3,
        warmup_steps=5,
        clip_length=3,
        scene=SCENE,
        prompt_weights=(0.0, 0.0, 1.0),
    )
    trainer = Trainer(model, config, out=Path("unused"), precision=precision)
    batch = _objects_of([training_clip(rng=seed, config=SCENE) for seed in (1, 2)])
    model.train()
    first = trainer.step(batch)
    for _ in range(config.steps - 1):
        last = trainer.step(batch)
    assert last.dice < 0.7 * first.dice, (float(first.dice), float(last.dice))
    assert last.total < 0.7 * first.total


def test_single_frames_beside_the_clips_train_with_them():
    """`images_per_step`: a clips step also draws that many single frames and trains the mean of
    the clips' loss and the frames' (computed as stage images computes it); none by default."""
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_demo", image_size=SIZE)
    config = TrainingConfig(stage="clips", images_per_step=2, clip_length=3, scene=SCENE, warmup_steps=1)
    trainer = Trainer(model, config, out=Path("unused"))
    clips, images = trainer.sample(), trainer.sample_images()
    assert clips.frames.shape[1] == 3 and images.frames.shape[1] == 1 and len(np.unique(images.clip)) == 2
    model.train()
    drawn = trainer.rng.bit_generator.state
    with torch.no_grad():
        alone = [trainer._clip_losses(clips).total, trainer._image_losses(images).total]
    trainer.rng.bit_generator.state = drawn
    assert trainer.step(clips, images).total.item() == pytest.approx(torch.stack(alone).mean().item(), rel=1e-5)
    assert Trainer(model, replace(config, images_per_step=0), out=Path("unused")).sample_images() is None
    assert Trainer(model, replace(config, stage="images"), out=Path("unused")).sample_images() is None


def test_frozen_image_encoder_stays_as_loaded():
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_demo", image_size=SIZE)
    config = TrainingConfig(stage="clips", train_image_encoder=False, warmup_steps=1, clip_length=3, scene=SCENE)
    trainer = Trainer(model, config, out=Path("unused"))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    model.train()
    trainer.step(_objects_of([training_clip(rng=1, config=SCENE)]))
    changed = {name for name, value in model.state_dict().items() if not torch.equal(value, before[name])}
    assert not any(name.startswith("image_encoder.") for name in changed)
    assert any(name.startswith("memory_attention.") for name in changed)
    assert any(name.startswith("sam_mask_decoder.") for name in changed)


@pytest.mark.slow
def test_train_command_writes_a_checkpoint_that_loads(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "sam2core.train",
        "--stage",
        "clips",
        "--steps",
        "2",
        "--clip-length",
        "3",
        "--image-size",
        str(SIZE),
        "--evaluate-every",
        "2",
        "--ema-decay",
        "0.5",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    record = torch.load(out / "checkpoint.pt", weights_only=True)
    assert record["training"]["steps_done"] == 2
    model = build_model("sam2.1_hiera_demo", checkpoint=out / "checkpoint.pt")
    assert all(torch.equal(value, record["model"][key]) for key, value in model.state_dict().items())
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    # The held-out score in the log is that of the weights the checkpoint holds (the average).
    assert log[-1]["evaluation"] == quick_score(
        build_model("sam2.1_hiera_demo", checkpoint=out / "checkpoint.pt", image_size=SIZE)
    )
    assert (out / "losses.png").stat().st_size > 1000


def _short_run(out: Path, steps: int, **changes) -> Trainer:
    torch.manual_seed(0)
    model = build_model("sam2.1_hiera_demo", image_size=SIZE)
    settings = dict(stage="clips", steps=steps, clips_per_step=1, clip_length=3, warmup_steps=1, checkpoint_every=2)
    config = TrainingConfig(**{**settings, "ema_decay": 0.9, "scene": SCENE, **changes})
    return Trainer(model, config, out=out)


def test_a_resumed_run_continues_where_the_stopped_one_was(tmp_path):
    """Two steps, a new process's worth of state from train_state.pt, two more steps: the same
    clips, prompts and schedule as four steps in one go; the weights differ only by the optimiser
    moments' bfloat16 storage."""
    whole = _short_run(tmp_path / "whole", 4)
    whole.run()
    stopped = _short_run(tmp_path / "split", 4)
    stopped.sample = _stop_after(stopped.sample, calls=2)
    with pytest.raises(_Stop):
        stopped.run()
    resumed = _short_run(tmp_path / "split", 4)
    torch.manual_seed(123)  # the resumed run must not depend on the state of a fresh process
    resumed.resume()
    assert resumed.steps_done == 2
    resumed.run()
    assert [e["step"] for e in resumed.log] == [1, 2, 3, 4]
    lines = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    # The clips are the same: a loss that depends on the data differs far more than 1e-3.
    for a, b in zip(whole.log, resumed.log):
        assert a["dice"] == pytest.approx(b["dice"], abs=1e-3), (a, b)
    for name, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, atol=1e-4, rtol=1e-3)
    assert (tmp_path / "split" / "train_state.pt").stat().st_size < 25e6


def test_a_run_out_of_time_saves_after_its_step_and_resumes(tmp_path):
    """A time budget ends the run after the step that used it up, with the state saved there
    (not at the last multiple of checkpoint_every)."""
    stopped = _short_run(tmp_path, 4, checkpoint_every=100)
    stopped.run(seconds=0.0)
    assert stopped.steps_done == 1
    resumed = _short_run(tmp_path, 4, checkpoint_every=100)
    resumed.resume()
    assert resumed.steps_done == 1
    resumed.run()
    assert [e["step"] for e in resumed.log] == [1, 2, 3, 4]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("schedule", "model", "images_per_step"),
    [(None, "sam2.1_hiera_demo", 0), ("demo-wide-joint", "sam2.1_hiera_demo_wide", 1)],
)
def test_gpu_training_script_runs_and_resumes_on_a_cpu_with_a_tiny_budget(tmp_path, schedule, model, images_per_step):
    """scripts/train_gpu.sh as a lent GPU would run it, on the CPU, one step per call; SCHEDULE
    names another schedule than the default demo-clips, here the wide model's from random weights."""
    out = tmp_path / "gpu"
    small = ["--clips-per-step", "1", "--clip-length", "3", "--image-size", str(SIZE), "--threads", "1"]
    small += ["--images-per-step", str(images_per_step)]  # demo-wide-joint's 8 made 1, for speed
    environment = {**os.environ, "DEVICE": "cpu", "PRECISION": "float32", "OMP_NUM_THREADS": "1"}
    environment = {**environment, "SCHEDULE": schedule} if schedule else environment
    for call in (1, 2):
        run = subprocess.run(
            ["scripts/train_gpu.sh", "0", str(out), *small],
            cwd=REPO, env=environment, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        assert "1 steps in" in run.stdout and f"{call} of 6000 done" in run.stdout, run.stdout
        state = torch.load(out / "train_state.pt", weights_only=True)
        assert state["steps_done"] == call and saved_settings(state)["images_per_step"] == images_per_step
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    build_model(model, checkpoint=out / "checkpoint.pt")


def test_the_demo_schedule_is_the_committed_runs_and_given_flags_win():
    """`--schedule demo-clips` (what scripts/train_gpu.sh and benchmarks/train_step.py run) gives
    the settings of the committed demo run exactly, so that either can resume its state."""
    state = torch.load(REPO / "checkpoints" / "demo-v2" / "train_state.pt", weights_only=True)
    args = parse_args(["--schedule", "demo-clips", "--out", "unused"])
    assert asdict(training_config(args, 128)) == saved_settings(state)
    assert args.init == "default"
    later = parse_args(["--out", "unused", "--steps", "7", "--schedule=demo-clips", "--ema-decay", "0"])
    assert (later.steps, later.ema_decay, later.learning_rate) == (7, 0.0, 3e-4)
    with pytest.raises(SystemExit):
        parse_args(["--schedule", "fastest", "--out", "unused"])


def test_a_schedule_built_on_another_has_both_and_given_flags_still_win():
    """`demo-compare` is the demo run's settings with a shorter schedule and no weight average;
    the joint-training arm is its control with single frames added."""
    base = parse_args(["--schedule", "demo-clips", "--out", "unused"])
    compare = parse_args(["--schedule", "demo-compare", "--out", "unused", "--image-size", "160", "--steps", "9"])
    assert (compare.steps, compare.warmup_steps, compare.ema_decay, compare.image_size) == (9, 25, 0.0, 160)
    unchanged = ("init", "clips_per_step", "learning_rate", "occlusion_prob", "leave_prob", "prompt_weights")
    assert [getattr(compare, name) for name in unchanged] == [getattr(base, name) for name in unchanged]
    joint = training_config(parse_args(["--schedule", "demo-mix-joint", "--out", "unused"]), 128)
    next_run = training_config(parse_args(["--schedule", "demo-mix-next", "--out", "unused"]), 128)
    assert (joint.images_per_step, next_run.images_per_step) == (8, 0)
    assert replace(joint, images_per_step=0) == next_run


def test_the_scratch_schedules_start_from_random_weights_and_differ_in_the_model_only():
    """demo-wide-joint is demo-scratch-joint for the wide model; the CPU comparison arms are those
    with 1,200 steps and no weight average; all train images and clips together from random weights."""
    runs = {
        name: parse_args(["--schedule", name, "--out", "unused"])
        for name in ("demo-scratch-joint", "demo-wide-joint", "demo-scratch-compare", "demo-wide-compare")
    }
    assert [args.model for args in runs.values()] == ["sam2.1_hiera_demo", "sam2.1_hiera_demo_wide"] * 2
    assert all(args.init is None and args.images_per_step == 8 for args in runs.values())
    for scratch, wide in (("demo-scratch-joint", "demo-wide-joint"), ("demo-scratch-compare", "demo-wide-compare")):
        assert vars(runs[wide]) == {**vars(runs[scratch]), "model": "sam2.1_hiera_demo_wide"}
    full, compare = (training_config(runs[name], 128) for name in ("demo-scratch-joint", "demo-scratch-compare"))
    assert (compare.steps, compare.ema_decay) == (1200, 0.0)
    assert replace(compare, steps=6000, ema_decay=0.999) == full


def test_resume_refuses_other_settings(tmp_path):
    _short_run(tmp_path, 2).run()
    with pytest.raises(ValueError, match="learning_rate"):
        _short_run(tmp_path, 2, learning_rate=1e-2).resume()


def test_checkpoint_holds_the_weight_average_and_training_keeps_its_own_weights(tmp_path):
    trainer = _short_run(tmp_path, 3)
    key = "sam_mask_decoder.iou_token.weight"
    expected = trainer.model.state_dict()[key].clone()
    batch = _objects_of([training_clip(rng=1, config=SCENE)])
    trainer.model.train()
    for _ in range(3):
        trainer.step(batch)
        expected = 0.9 * expected + 0.1 * trainer.model.state_dict()[key]
    own = trainer.model.state_dict()[key].clone()
    trainer.steps_done, trainer.log = 3, [{"step": 3, "seconds": 1.0, **dict.fromkeys(TERMS, 1.0)}]
    trainer.save()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"][key]
    torch.testing.assert_close(saved, expected)
    assert not torch.allclose(saved, own, atol=1e-6)
    assert torch.equal(trainer.model.state_dict()[key], own)


class _Stop(Exception):
    pass


def _stop_after(sample, calls: int):
    """`sample` that raises _Stop when called for step `calls + 1`: a run killed mid-way."""
    count = iter(range(calls + 1))

    def wrapped():
        if next(count) == calls:
            raise _Stop
        return sample()

    return wrapped


def test_bundle_keeps_every_stage_of_a_model_trained_on_from_the_bundled_weights(tmp_path):
    """A run that starts from the bundled file and is bundled again keeps the earlier stages' records."""
    first, second = (build_model("sam2.1_hiera_demo") for _ in range(2))
    records = [{"steps_done": 4000, "seconds": 10.0}, {"steps_done": 300, "seconds": 2.5}]
    paths = [tmp_path / "images.pt", tmp_path / "clips.pt"]
    for model, record, path in zip((first, second), records, paths):
        save_checkpoint(model, path, extra={"training": record})
    earlier = bundle("sam2.1_hiera_demo", paths[:1], target=tmp_path / "bundled.pt")
    again = bundle("sam2.1_hiera_demo", [earlier, paths[1]], target=tmp_path / "bundled_again.pt")
    stored = torch.load(again, weights_only=True)
    assert stored["training"] == records
    assert all(torch.equal(stored["model"][k], v) for k, v in second.state_dict().items())
    assert json.loads(again.with_suffix(".json").read_text())["training_seconds"] == 12.5


def test_clips_come_from_the_families_the_run_names(tmp_path):
    """One family: its training clips, drawn with the run's generator and nothing else (so a run
    from before there was a choice resumes with the same clips); two: drawn evenly; a family
    that is only held out is refused."""
    for name, clip in (("cutouts", training_clip), ("geometric", geometric_training_clip)):
        trainer = _short_run(tmp_path, 1, families=(name,), clips_per_step=2)
        rng = np.random.default_rng(trainer.config.seed)
        expected = _objects_of([clip(rng=rng, config=SCENE) for _ in range(2)])
        np.testing.assert_array_equal(trainer.sample().frames, expected.frames)
    mixed = _short_run(tmp_path, 1, families=("cutouts", "geometric"))
    drawn = [mixed._next_family().name for _ in range(200)]
    assert 70 <= drawn.count("geometric") <= 130 and drawn.count("cutouts") == 200 - drawn.count("geometric")
    with pytest.raises(ValueError, match="held out only"):
        TrainingConfig(families=("tabletop",))


def test_a_state_saved_before_a_setting_existed_resumes_with_its_default(tmp_path):
    _short_run(tmp_path, 2).run()
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    del state["config"]["families"]
    torch.save(state, tmp_path / "train_state.pt")
    resumed = _short_run(tmp_path, 2)
    resumed.resume()
    assert resumed.steps_done == 2
    with pytest.raises(ValueError, match="families"):
        _short_run(tmp_path, 2, families=("cutouts", "geometric")).resume()


def test_a_target_hidden_on_the_first_frame_is_left_out_of_the_batch():
    """The first prompt goes on frame 0: a target not visible there cannot be prompted."""
    clip = training_clip(rng=3, config=replace(SCENE, num_targets=(2, 2)))
    visibility = clip.visibility.copy()
    visibility[0, 0] = False
    masks = clip.masks.copy()
    masks[0, 0] = False
    batch = _objects_of([clip, replace(clip, visibility=visibility, masks=masks)])
    assert list(batch.clip) == [0, 0, 1]
    np.testing.assert_array_equal(batch.masks[2], clip.masks[:, 1])
