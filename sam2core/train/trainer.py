"""Training and fine-tuning SAM 2 on synthetic clips, in two stages.

- stage "images": promptable segmentation of single frames: a first prompt (click, box or mask),
  then corrective clicks, each decoded with the previous mask as input (SAM's interactive
  training). Trains the image encoder, the prompt encoder and the mask decoder.
- stage "clips": the memory path on short clips: the first frame is prompted, the others are
  tracked from memory, some get a corrective click and become conditioning frames. The frames
  run through exactly the tracker's steps (sam2core.tracking.step), with gradients. With
  `images_per_step`, each step also trains single frames as stage "images" does, so that
  segmenting and tracking learn together (SAM 2 trains on images and videos alike).
Every object of a batch is one element (a clip with three targets gives three); losses are per
object (sam2core.train.losses).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sam2core.build import save_checkpoint
from sam2core.data import TRAINING, SceneConfig, SceneFamily, SceneSequence, family
from sam2core.modeling.outputs import DecoderOutput, ImageFeatures
from sam2core.precision import PrecisionChoice, autocast, choose_precision
from sam2core.tracking import step
from sam2core.tracking.memory import ObjectMemory, memory_context, remember
from sam2core.train.averaging import WeightAverage
from sam2core.train.losses import TERMS, LossTerms, LossWeights, segmentation_loss
from sam2core.train.prompts import PROMPT_KINDS, correction_clicks, first_prompt, with_clicks

STAGES = ("images", "clips")
STATE_FILE = "train_state.pt"  # what `--resume` continues from
MOMENTS = ("exp_avg", "exp_avg_sq")  # AdamW's running moments, stored as bfloat16 to keep the state small


@dataclass(frozen=True)
class TrainingConfig:
    """One training run. Batch sizes count clips; every clip brings 1-3 objects."""

    stage: str = "clips"
    steps: int = 1000
    clips_per_step: int = 2
    clip_length: int = 8  # frames per clip; stage "images" uses one random frame per clip
    train_image_encoder: bool = True  # False: the trunk and neck stay as they are (no gradients, no backward)
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    grad_clip: float = 1.0
    prompt_kinds: tuple[str, ...] = PROMPT_KINDS
    prompt_weights: tuple[float, ...] = (0.5, 0.25, 0.25)
    correction_rounds: int = 2  # stage "images": corrective clicks after the first prompt
    corrected_frames: int = 1  # stage "clips": tracked frames that also get a corrective click
    images_per_step: int = 0  # stage "clips": single frames also trained each step, as stage "images" trains them
    max_conditioning_frames: int = 4
    loss: LossWeights = field(default_factory=LossWeights)
    scene: SceneConfig = TRAINING
    families: tuple[str, ...] = ("cutouts",)  # scene families the clips come from, drawn evenly
    seed: int = 0
    checkpoint_every: int = 100
    evaluate_every: int = 200
    ema_decay: float = 0.0  # > 0: checkpoints and evaluations use an exponential moving average of the weights

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if len(self.prompt_kinds) != len(self.prompt_weights):
            raise ValueError("prompt_kinds and prompt_weights differ in length")
        if not self.families:
            raise ValueError("families must name at least one scene family")
        for name in self.families:
            if family(name).training_clip is None:
                raise ValueError(f"scene family {name!r} is held out only: nothing trains on it")


@dataclass
class Batch:
    """N objects: frames (N, T, S, S, 3) uint8 (each object's clip), masks (N, T, S, S) bool,
    visible (N, T) bool, clip (N,) the index of the clip each object comes from."""

    frames: np.ndarray
    masks: np.ndarray
    visible: np.ndarray
    clip: np.ndarray


class Trainer:
    """Runs a TrainingConfig on a model and writes checkpoints, a log and a loss plot to `out`.

    precision: the arithmetic of the forward pass ("float32", autocast to "bfloat16" / "float16",
    or "auto", see sam2core.precision); the weights, gradients and optimiser stay in float32. Like
    the device, it is not part of the run's config: a run may resume in another precision.
    """

    def __init__(
        self,
        model,
        config: TrainingConfig,
        out: Path,
        evaluate: Callable[[object], dict[str, float]] | None = None,
        precision: str = "float32",
    ):
        self.model = model
        self.config = config
        self.out = Path(out)
        self.evaluate = evaluate
        self.rng = np.random.default_rng(config.seed)
        model.image_encoder.requires_grad_(config.train_image_encoder)
        self.optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._learning_rate_factor)
        self.device = next(model.parameters()).device
        self.precision: PrecisionChoice = choose_precision(precision, self.device)
        self.average = WeightAverage(model, config.ema_decay) if config.ema_decay else None
        self.steps_done = 0
        self.log: list[dict] = []

    def resume(self) -> None:
        """Continue the run whose state `out` holds: weights, optimiser, schedule, random
        generators, weight average and log, as they were at its last checkpoint."""
        state = torch.load(self.out / STATE_FILE, weights_only=True)
        saved = saved_settings(state)
        if saved != asdict(self.config):
            changed = sorted(k for k, v in asdict(self.config).items() if saved.get(k) != v)
            raise ValueError(
                f"{self.out} was trained with other settings ({', '.join(changed)}); resume with the same ones"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        if self.average:
            own = self.model.state_dict()
            self.average.weights = {
                name: own[name] + offset.float() for name, offset in state["average_offset"].items()
            }
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.steps_done = state["steps_done"]
        with open(self.out / "log.jsonl") as file:
            self.log = [json.loads(line) for line in file][: self.steps_done]

    def run(self, seconds: float | None = None) -> list[dict]:
        """Train up to config.steps, or until `seconds` have passed (then the state is saved and
        `resume` continues); returns the log (one dict per step, evaluations included)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        self.out.mkdir(parents=True, exist_ok=True)
        log_path = self.out / "log.jsonl"
        log_path.write_text("".join(json.dumps(entry) + "\n" for entry in self.log))
        self.model.train()
        started = time.monotonic() - (self.log[-1]["seconds"] if self.log else 0.0)
        first = self.steps_done + 1
        progress = tqdm(
            range(first, self.config.steps + 1),
            desc=f"train {self.config.stage}",
            unit="step",
            initial=self.steps_done,
            total=self.config.steps,
        )
        for step_number in progress:
            terms = self.step(self.sample(), self.sample_images())
            entry = {"step": step_number, "seconds": round(time.monotonic() - started, 1), **terms.as_floats()}
            progress.set_postfix(loss=f"{entry['total']:.3f}", dice=f"{entry['dice']:.3f}")
            if self.evaluate and (step_number % self.config.evaluate_every == 0 or step_number == self.config.steps):
                with self._evaluated_weights() as model:
                    entry["evaluation"] = self.evaluate(model)
                tqdm.write(f"step {step_number}, held-out synthetic scenes: {entry['evaluation']}")
            self.log.append(entry)
            self.steps_done = step_number
            with open(log_path, "a") as file:
                file.write(json.dumps(entry) + "\n")
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if step_number % self.config.checkpoint_every == 0 or step_number == self.config.steps or out_of_time:
                self.save()
            if out_of_time:
                break
        progress.close()
        self.model.eval()
        return self.log

    def save(self) -> None:
        """checkpoint.pt: the weights a user takes (the average, if kept) in Meta's format;
        train_state.pt: all that `resume` needs."""
        record = {"config": asdict(self.config), "steps_done": self.steps_done, "seconds": self.log[-1]["seconds"]}
        with self._evaluated_weights() as model:
            save_checkpoint(model, self.out / "checkpoint.pt", extra={"training": record})
        optimizer = self.optimizer.state_dict()
        optimizer["state"] = {
            index: {key: value.to(torch.bfloat16) if key in MOMENTS else value for key, value in moments.items()}
            for index, moments in optimizer["state"].items()
        }
        state = {
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": optimizer,
            "schedule": self.schedule.state_dict(),
            "average_offset": self._average_offset(),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "steps_done": self.steps_done,
        }
        torch.save(state, self.out / (STATE_FILE + ".partial"))
        (self.out / (STATE_FILE + ".partial")).replace(self.out / STATE_FILE)
        plot_losses(self.log, self.out / "losses.png")

    def _average_offset(self) -> dict[str, torch.Tensor] | None:
        """average - weights, in bfloat16: small numbers whose rounding costs the average
        nothing measurable, and half the bytes of the average itself."""
        if not self.average:
            return None
        own = self.model.state_dict()
        return {name: (average - own[name]).to(torch.bfloat16) for name, average in self.average.weights.items()}

    @contextmanager
    def _evaluated_weights(self) -> Iterator[torch.nn.Module]:
        """The model in eval mode with the weights a user gets (the average, if kept)."""
        self.model.eval()
        try:
            if self.average:
                with self.average.applied(self.model) as model:
                    yield model
            else:
                yield self.model
        finally:
            self.model.train()

    def step(self, batch: Batch, images: Batch | None = None) -> LossTerms:
        """One optimisation step on `batch` (clips, or single frames in stage images) and on the
        single frames `images`, if given: the mean of the two losses."""
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.precision, self.device):
            terms = self._image_losses(batch) if self.config.stage == "images" else self._clip_losses(batch)
            if images is not None:
                terms = _mean([terms, self._image_losses(images)])
        terms.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.schedule.step()
        if self.average:
            self.average.update(self.model)
        return terms

    def sample(self) -> Batch:
        """A batch of objects from fresh training clips (single frames in stage images)."""
        length = 1 if self.config.stage == "images" else self.config.clip_length
        return _objects_of(self.draw_clips(self.config.clips_per_step, length))

    def sample_images(self) -> Batch | None:
        """The single frames trained beside the clips of a step; None when there are none."""
        if self.config.stage == "images" or not self.config.images_per_step:
            return None
        return _objects_of(self.draw_clips(self.config.images_per_step, 1))

    def draw_clips(self, count: int, length: int) -> list[SceneSequence]:
        """`count` fresh training clips of `length` frames, each with a target on its first frame."""
        config = replace(self.config.scene, num_frames=length)
        clips = []
        while len(clips) < count:
            clip = self._next_family().training_clip(rng=self.rng, config=config)
            clips += [clip] if clip.visibility[0].any() else []
        return clips

    def _next_family(self) -> SceneFamily:
        """The family of the next clip, drawn evenly; with one family nothing is drawn, so the
        clips are those of a run from before there was a choice."""
        names = self.config.families
        return family(names[0] if len(names) == 1 else names[int(self.rng.integers(len(names)))])

    # ----------------------------------------------------------------- stages

    def _image_losses(self, batch: Batch) -> LossTerms:
        features = self._encode(batch, frame=0)
        masks = batch.masks[:, 0]
        visible = torch.ones(len(masks), dtype=torch.bool, device=self.device)
        kind = self._prompt_kind()
        prompt = first_prompt(kind, masks, self.rng, self.device)
        output = step.decode_prompted(self.model, features, prompt, memory=None, previous_mask_logits=None)
        losses = [self._loss(output, masks, visible)]
        for _ in range(self.config.correction_rounds):
            points, labels = correction_clicks(self._predicted(output), masks, self.rng)
            prompt = with_clicks(prompt, points, labels, self.device)
            output = step.decode_prompted(
                self.model, features, prompt, memory=None, previous_mask_logits=output.low_res_masks.detach()
            )
            losses.append(self._loss(output, masks, visible))
        return _mean(losses)

    def _clip_losses(self, batch: Batch) -> LossTerms:
        length = batch.frames.shape[1]
        memories = [
            ObjectMemory.for_model(self.model.config, max_conditioning=self.config.max_conditioning_frames)
            for _ in batch.clip
        ]
        corrected = self._corrected_frames(batch)
        memory_pos = None
        losses = []
        for t in range(length):
            features = self._encode(batch, frame=t)
            masks = batch.masks[:, t]
            visible = torch.from_numpy(batch.visible[:, t]).to(self.device)
            if t == 0:
                prompt = first_prompt(self._prompt_kind(), masks, self.rng, self.device)
                output = step.decode_prompted(self.model, features, prompt, memory=None, previous_mask_logits=None)
                prompted = True
            else:
                context = memory_context(self.model, memories, t, memory_pos)
                output = step.decode_tracked(self.model, features, context)
                prompted = t in corrected
                if prompted:
                    losses.append(self._loss(output, masks, visible))
                    points, labels = correction_clicks(self._predicted(output), masks, self.rng)
                    output = step.decode_prompted(
                        self.model,
                        features,
                        with_clicks(None, points, labels, self.device),
                        memory=context,
                        previous_mask_logits=output.low_res_masks.detach(),
                    )
            losses.append(self._loss(output, masks, visible))
            memory_features, memory_pos = step.encode_memory(self.model, features, output, prompted=prompted)
            memory_pos = memory_pos[:1]
            remember(memories, t, output, memory_features, is_conditioning=prompted)
        return _mean(losses)

    # ----------------------------------------------------------------- helpers

    def _encode(self, batch: Batch, frame: int) -> ImageFeatures:
        """Features of every clip's frame `frame`, indexed per object."""
        clips, first_object = np.unique(batch.clip, return_index=True)
        images = torch.cat([self.model.preprocess(batch.frames[i, frame]) for i in first_object])
        features = self.model.encode_image(images.to(self.device))
        return features.index(torch.as_tensor(np.searchsorted(clips, batch.clip), device=self.device))

    def _loss(self, output: DecoderOutput, masks: np.ndarray, visible: torch.Tensor) -> LossTerms:
        size = masks.shape[-2:]
        logits = F.interpolate(output.low_res_multimasks, size=size, mode="bilinear", align_corners=False)
        targets = torch.from_numpy(masks[:, None].astype(np.float32)).to(self.device)
        return segmentation_loss(
            logits, output.multimask_iou, output.object_score_logits, targets, visible, self.config.loss
        )

    def _predicted(self, output: DecoderOutput) -> np.ndarray:
        """(N, S, S) bool masks the user sees, at the model's input size."""
        return (output.high_res_masks[:, 0] > 0).cpu().numpy()

    def _prompt_kind(self) -> str:
        weights = np.asarray(self.config.prompt_weights, dtype=float)
        return str(self.rng.choice(self.config.prompt_kinds, p=weights / weights.sum()))

    def _corrected_frames(self, batch: Batch) -> set[int]:
        """Tracked frames that get a corrective click: among those where every object is visible."""
        candidates = [t for t in range(1, batch.frames.shape[1]) if batch.visible[:, t].all()]
        count = min(self.config.corrected_frames, len(candidates))
        return set(self.rng.choice(candidates, count, replace=False).tolist()) if count else set()

    def _learning_rate_factor(self, step_number: int) -> float:
        """Linear warm-up, then cosine decay to 10% of the peak."""
        warmup, total = self.config.warmup_steps, self.config.steps
        if step_number < warmup:
            return (step_number + 1) / warmup
        progress = (step_number - warmup) / max(1, total - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * min(progress, 1.0)))


def saved_settings(state: dict) -> dict:
    """The TrainingConfig (as a dict) a train_state.pt was saved with; a setting added since
    takes its default, which is what the run had."""
    return {**asdict(TrainingConfig()), **state["config"]}


def _objects_of(clips: list[SceneSequence]) -> Batch:
    """One batch element per target of each clip, but for a target hidden on frame 0 (where
    the first prompt goes: a generator keeps its last try when none shows every target)."""
    frames, masks, visible, clip = [], [], [], []
    for index, sequence in enumerate(clips):
        for k in np.flatnonzero(sequence.visibility[0]):
            frames.append(sequence.frames)
            masks.append(sequence.masks[:, k])
            visible.append(sequence.visibility[:, k])
            clip.append(index)
    return Batch(np.stack(frames), np.stack(masks), np.stack(visible), np.array(clip))


def _mean(terms: list[LossTerms]) -> LossTerms:
    return LossTerms(**{name: torch.stack([getattr(t, name) for t in terms]).mean() for name in TERMS})


def plot_losses(log: list[dict], path: Path) -> None:
    """Loss terms per step (smoothed) and evaluations, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.array([entry["step"] for entry in log])
    figure, (losses, scores) = plt.subplots(1, 2, figsize=(11, 4))
    for name in TERMS:
        values = np.array([entry[name] for entry in log])
        window = max(1, len(values) // 50)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        losses.plot(steps[window - 1 :], smooth, label=name)
    losses.set_yscale("log")
    losses.set_xlabel("step")
    losses.set_title("training losses (moving average)")
    losses.legend()
    evaluated = [entry for entry in log if "evaluation" in entry]
    for name in sorted({key for entry in evaluated for key in entry["evaluation"]}):
        scores.plot([e["step"] for e in evaluated], [e["evaluation"][name] for e in evaluated], "o-", label=name)
    scores.set_xlabel("step")
    scores.set_title("held-out evaluation")
    if evaluated:
        scores.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
