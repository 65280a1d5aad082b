"""Streaming SAM 2: one frame in, every object's mask, pointer and visibility out.

Semantics follow SAM 2's video predictor, frame by frame and with bounded state:
- `track(image, prompts)` encodes the image once. A prompted object (new id or known id) is
  segmented from its prompt alone, without memory, as the reference does for prompts added on a
  frame before it is propagated; that frame becomes one of the object's conditioning frames.
  Every other object is tracked from its memory; all of them in one batch.
- `add_prompt(object_id, prompt, frame_index)` prompts a frame already tracked and still held
  (the last `frame_history` frames): memory and the object's previous mask on that frame are
  used, as for the reference's clicks on a frame it has already tracked. The frame becomes a
  conditioning frame and the object is re-tracked over the held frames after it, so the next
  `track` continues from the corrected memory. Other objects are not touched.
- With the `exclusive` option, the frame's objects (prompted and tracked) compete for pixels
  before anything is published or remembered (sam2core.tracking.exclusivity).
- Each object's state is bounded: its conditioning frames (at most `max_conditioning_frames`),
  and the tracked frames that a later frame can still read.
- Motion-aware mode (`motion=True`, SAMURAI's method per object, see motion.py): after decoding,
  each object's own Kalman filter chooses among its candidate masks, and its spatial memory
  holds reliable frames (memory.ReliableFrames) rather than the last six.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from sam2core.modeling.outputs import DecoderOutput, ImageFeatures, MemoryContext
from sam2core.modeling.sam2 import SAM2Model
from sam2core.precision import DTYPES, PRECISIONS, PrecisionChoice, autocast, choose_precision
from sam2core.runtime import check_graph_precision, precision_by_part
from sam2core.tracking import step
from sam2core.tracking.exclusivity import Claims, TrackHealth, hidden_if_lost, owned_logits, track_health
from sam2core.tracking.memory import ObjectMemory, memory_context, remember
from sam2core.tracking.motion import BoxKalmanFilter, MotionChoice, MotionSettings, candidate_boxes, choose_candidate
from sam2core.tracking.postprocess import clean_mask_logits
from sam2core.tracking.prompt import ModelPrompt, Prompt, PromptError, prepare_prompt
from sam2core.tracking.results import FrameResult, ObjectResult, object_results


class UnknownObjectError(KeyError):
    """An object id the tracker does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class TrackerOptions:
    """How the tracker tracks. Where the model runs (backend, compilation) is decided when it is
    loaded: sam2core.preparation."""

    # Most objects tracked at once; prompting one more is rejected.
    max_objects: int = 32
    # Frames whose features are held for prompts on past frames (add_prompt).
    frame_history: int = 16
    # Conditioning (prompted) frames kept per object; beyond it the oldest is demoted to an
    # ordinary tracked frame. See README for the choice of 4.
    max_conditioning_frames: int = 4
    # Arithmetic of the model: "float32", autocast to "bfloat16" / "float16", or "auto"
    # (bfloat16 where the device runs it natively, else float32; see sam2core.precision).
    precision: str = "auto"
    # Storage of memory features: "bfloat16" rounds as SAM 2's video predictor does.
    memory_dtype: str = "bfloat16"
    # Mask clean-up, in pixels of the model's low-resolution mask (a quarter of its input side;
    # one such pixel is 16 input pixels); 0 turns it off. Holes of at most `fill_hole_area`
    # pixels are filled: SAM 2's video predictor default. Regions of fewer than
    # `min_region_area` pixels are removed, but never an object's largest: stray specks that
    # would stretch its box across the image. 8 is the hole size turned round: about 128 input
    # pixels (11 x 11) at 1024 px, far below an object worth tracking. See README.
    fill_hole_area: int = 8
    min_region_area: int = 8
    # Motion-aware memory per object (SAMURAI's method): a Kalman filter on each object's box
    # helps choose among the decoder's candidate masks, and spatial memory holds the recent
    # frames that pass `motion_settings`' thresholds. Off: SAM 2's choice and memory.
    motion: bool = False
    motion_settings: MotionSettings = MotionSettings()
    # Objects compete for pixels (SAM 2's non-overlap rule: per pixel only the highest logit stays
    # positive; an object prompted on the frame wins its prompt's pixels), in what is published
    # and what is remembered. A visible track left with less than `min_kept_fraction` of its mask
    # is reported not visible (ObjectResult.health LOST_TO_OTHER) and its memory is not written
    # from that frame. See sam2core.tracking.exclusivity and docs/design/identity.md.
    exclusive: bool = False
    min_kept_fraction: float = 0.5
    # Objects whose memories go through memory attention in one pass (0: all in one batch).
    # None: 1 on a CPU, where a pass per object took 12% less time than one batch of 8 (512 px,
    # float32, 1 and 2 threads: docs/benchmarks/README.md), all on other devices. The results do
    # not depend on it beyond float rounding.
    objects_per_attention_pass: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.memory_dtype not in DTYPES:
            raise ValueError(f"memory_dtype must be one of {sorted(DTYPES)}, got {self.memory_dtype!r}")
        for name in ("max_objects", "frame_history", "max_conditioning_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("fill_hole_area", "min_region_area"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if self.objects_per_attention_pass is not None and self.objects_per_attention_pass < 0:
            raise ValueError(f"objects_per_attention_pass must be at least 0, got {self.objects_per_attention_pass}")
        if not 0.0 <= self.min_kept_fraction <= 1.0:
            raise ValueError(f"min_kept_fraction must be in [0, 1], got {self.min_kept_fraction}")


@dataclass(frozen=True)
class DecodedGroup:
    """Objects decoded together on one frame and remembered together: `output` is a batch of
    len(object_ids); prompted groups become conditioning frames; `motion`: each object's motion
    choice in motion-aware mode, else None."""

    object_ids: list[int]
    output: DecoderOutput
    prompted: bool
    motion: list[MotionChoice] | None = None


@dataclass
class HeldFrame:
    """An encoded frame kept for prompts: features for a batch of one, input size (H, W)."""

    frame_index: int
    features: ImageFeatures
    image_size: tuple[int, int]


class StreamingTracker:
    """Tracks any number of prompted objects through an endless stream of frames."""

    def __init__(self, model: SAM2Model, options: TrackerOptions = TrackerOptions()):
        """model: as built, or prepared at load (sam2core.preparation.prepare_model: exported
        graphs, compiled modules), whose OpenVINO graphs then run in `options.precision`."""
        self.options = options
        self.model = model.eval()
        self.config = model.config
        self.device = next(model.parameters()).device
        self.precision: PrecisionChoice = choose_precision(options.precision, self.device)
        check_graph_precision(model, self.precision.name)
        # What each part computes in, runtime graphs included: for logs and diagnostics.
        self.precision_by_part: dict[str, str] = precision_by_part(model, self.precision.name, options.memory_dtype)
        self._memory_dtype = DTYPES[self.options.memory_dtype]
        self._objects_per_pass = options.objects_per_attention_pass
        if self._objects_per_pass is None:
            self._objects_per_pass = 1 if self.device.type == "cpu" else 0
        self._memory_pos: torch.Tensor | None = None  # (1, Cm, h, w), the same for every frame
        self._kalman = BoxKalmanFilter()
        self.reset()

    # ----------------------------------------------------------------- public API

    @property
    def object_ids(self) -> list[int]:
        return list(self._objects)

    @property
    def frame_index(self) -> int:
        """Index of the newest frame (-1 before the first)."""
        return self._next_frame - 1

    @property
    def held_frames(self) -> list[int]:
        """Indices of the frames that add_prompt accepts."""
        return [frame.frame_index for frame in self._frames]

    def reset(self) -> None:
        """Forget every object and frame; the next frame gets index 0."""
        self._objects: dict[int, ObjectMemory] = {}
        self._frames: deque[HeldFrame] = deque(maxlen=self.options.frame_history)
        self._next_frame = 0

    def remove_object(self, object_id: int) -> None:
        """Stop tracking `object_id` and free its memory; other objects are untouched."""
        if object_id not in self._objects:
            raise UnknownObjectError(f"unknown object id {object_id}; tracked ids: {self.object_ids}")
        del self._objects[object_id]

    @torch.inference_mode()
    def track(self, image: np.ndarray | torch.Tensor, prompts: dict[int, Prompt] | None = None) -> FrameResult:
        """Track every object on a new frame, after applying `prompts` (object id -> Prompt).

        image: (H, W, 3) uint8 RGB, numpy or a torch tensor (e.g. already on the model's device).
        Every prompt is checked before anything changes: one bad prompt raises PromptError and
        the frame is not consumed.
        """
        image_size = tuple(int(n) for n in image.shape[:2])
        prompts = prompts or {}
        checked = {obj: self._check_prompt(obj, prompt, image_size) for obj, prompt in prompts.items()}
        self._check_capacity(checked)
        frame = HeldFrame(self._next_frame, self._encode(image), image_size)
        self._frames.append(frame)
        self._next_frame += 1

        groups = []
        for object_id, model_prompt in checked.items():
            self._objects.setdefault(object_id, self._new_memory())
            groups.append(self._prompt_step(frame, object_id, model_prompt, initial=True))
        tracked = [obj for obj in self._objects if obj not in checked]
        if tracked:
            groups.append(self._tracking_step(frame, tracked))
        groups, health = self._share_pixels(groups)
        for group in groups:
            self._remember(frame, group, health)
        self._forget_unreadable()
        return FrameResult(frame.frame_index, self._results(groups, image_size, health))

    @torch.inference_mode()
    def add_prompt(
        self,
        object_id: int,
        prompt: Prompt,
        frame_index: int | None = None,
        *,
        from_memory: bool = True,
        from_previous_mask: bool = True,
    ) -> ObjectResult:
        """Prompt `object_id` on a held frame (default: the newest) and return it on that frame.

        A known object that was tracked on that frame is corrected (its memory and previous mask
        are used, as SAM 2 corrects a mask); `from_memory` False leaves out both, the prompt alone
        segmenting the object there as on a new object's first frame (its memory of other frames is
        kept for later ones), and `from_previous_mask` False leaves out only the previous mask.
        Otherwise the prompt starts the object there. The object is then re-tracked
        over the held frames after `frame_index`. Raises PromptError for a bad prompt or a frame
        no longer held, and nothing changes.
        """
        frame = self._held_frame(self.frame_index if frame_index is None else frame_index)
        model_prompt = self._check_prompt(object_id, prompt, frame.image_size)
        self._check_capacity({object_id: model_prompt})
        memory = self._objects.setdefault(object_id, self._new_memory())
        initial = not from_memory or memory.entry(frame.frame_index) is None
        group = self._prompt_step(frame, object_id, model_prompt, initial=initial, previous_mask=from_previous_mask)
        self._remember(frame, group, {})
        for later in [held for held in self._frames if held.frame_index > frame.frame_index]:
            if later.frame_index not in memory.conditioning:
                self._remember(later, self._tracking_step(later, [object_id]), {})
        self._forget_unreadable()
        return self._results([group], frame.image_size, {})[object_id]

    def forget_tracked_frames(self, object_id: int, before: int | None = None) -> None:
        """Forget what `object_id` remembers of the frames it was tracked on (not prompted on)
        before frame `before` (default: the newest): later frames read only its prompted frames
        and what follows. For a track that followed the wrong thing, before it is prompted again."""
        if object_id not in self._objects:
            raise UnknownObjectError(f"unknown object id {object_id}; tracked ids: {self.object_ids}")
        self._objects[object_id].forget_tracked(before=self.frame_index if before is None else before)

    # ----------------------------------------------------------------- steps

    def _prompt_step(
        self, frame: HeldFrame, object_id: int, prompt: ModelPrompt, *, initial: bool, previous_mask: bool = True
    ) -> DecodedGroup:
        """Segment one object from its prompt on `frame` (to be remembered as a conditioning frame).
        initial: from the prompt alone; else on the object's memory, and with `previous_mask` its
        mask on `frame` as the decoder's mask input."""
        memory = self._objects[object_id]
        with self._autocast():
            output = step.decode_prompted(
                self.model,
                frame.features,
                prompt,
                memory=None if initial else self._memory_context([memory], frame.frame_index),
                previous_mask_logits=None
                if initial or not previous_mask
                else memory.entry(frame.frame_index).mask_logits[None],
            )
            output, motion = self._choose_masks([memory], frame.frame_index, output)
            output = self._clean(output)
        return DecodedGroup([object_id], output, prompted=True, motion=motion)

    def _tracking_step(self, frame: HeldFrame, object_ids: list[int]) -> DecodedGroup:
        """Track `object_ids` on `frame` from their memories, as one batch (through memory
        attention in passes of `objects_per_attention_pass`). The frame's features stay a batch
        of one: what depends only on them is computed once."""
        memories = [self._objects[obj] for obj in object_ids]
        with self._autocast():
            context = self._memory_context(memories, frame.frame_index)
            output = step.decode_tracked(self.model, frame.features, context, objects_per_pass=self._objects_per_pass)
            output, motion = self._choose_masks(memories, frame.frame_index, output)
            output = self._clean(output)
        return DecodedGroup(object_ids, output, prompted=False, motion=motion)

    def _share_pixels(self, groups: list[DecodedGroup]) -> tuple[list[DecodedGroup], dict[int, TrackHealth]]:
        """With the `exclusive` option: the frame's groups with one owner per pixel (low- and
        high-resolution masks alike) and the health of each object that lost its mask
        (sam2core.tracking.exclusivity); a prompted object never loses. Otherwise unchanged."""
        if not self.options.exclusive or sum(len(group.object_ids) for group in groups) < 2:
            return groups, {}
        object_ids = [obj for group in groups for obj in group.object_ids]
        prompted = torch.tensor([group.prompted for group in groups for _ in group.object_ids], device=self.device)
        outputs = [group.output for group in groups]
        low_res = torch.cat([output.low_res_masks.float() for output in outputs])  # (N, 1, S/4, S/4)
        high_res = torch.cat([output.high_res_masks.float() for output in outputs])  # (N, 1, S, S)
        visible = torch.cat([output.object_score_logits[:, 0] > 0 for output in outputs]) & ~prompted  # (N,)
        owned = owned_logits(Claims(low_res, prompted))
        health = track_health(low_res, owned, visible, min_kept_fraction=self.options.min_kept_fraction)
        sizes = [len(group.object_ids) for group in groups]
        low_res = hidden_if_lost(owned, health).split(sizes)
        high_res = hidden_if_lost(owned_logits(Claims(high_res, prompted)), health).split(sizes)
        shared = [
            dataclasses.replace(
                group,
                output=dataclasses.replace(
                    group.output,
                    low_res_masks=low.to(group.output.low_res_masks.dtype),
                    high_res_masks=high.to(group.output.high_res_masks.dtype),
                ),
            )
            for group, low, high in zip(groups, low_res, high_res)
        ]
        return shared, dict(zip(object_ids, health))

    def _remember(self, frame: HeldFrame, group: DecodedGroup, health: dict[int, TrackHealth]) -> None:
        """Encode and store the memory of `group` on `frame`, except for objects LOST_TO_OTHER:
        their memory keeps only frames where the object was its own."""
        kept = [i for i, obj in enumerate(group.object_ids) if health.get(obj) is not TrackHealth.LOST_TO_OTHER]
        if not kept:
            return
        output = group.output if len(kept) == len(group.object_ids) else group.output.index(kept)
        with self._autocast():
            memory_features = self._encode_memory(frame.features, output, prompted=group.prompted)
        memories = [self._objects[group.object_ids[i]] for i in kept]
        motion = None if group.motion is None else [group.motion[i] for i in kept]
        remember(memories, frame.frame_index, output, memory_features, is_conditioning=group.prompted, motion=motion)

    def _choose_masks(
        self, memories: list[ObjectMemory], frame_index: int, output: DecoderOutput
    ) -> tuple[DecoderOutput, list[MotionChoice] | None]:
        """Motion-aware mode: each object's filter chooses among its candidate masks
        (motion.choose_candidate); the output keeps the chosen ones, and the choices go to memory.
        Otherwise `output` as decoded (the best predicted IoU) and no choices."""
        if not self.options.motion:
            return output, None
        boxes = candidate_boxes(output.low_res_multimasks, self.config.image_size)
        choices = [
            choose_candidate(
                self._kalman, memory.motion_before(frame_index), object_boxes, iou, self.options.motion_settings
            )
            for memory, object_boxes, iou in zip(memories, boxes, output.multimask_iou)
        ]
        if output.low_res_multimasks.shape[1] > 1:
            chosen = torch.tensor([choice.candidate for choice in choices], device=output.low_res_masks.device)
            output = self.model.choose_masks(output, chosen)
        return output, choices

    def _clean(self, output: DecoderOutput) -> DecoderOutput:
        """`output` with its low-resolution mask cleaned (postprocess.clean_mask_logits), as SAM 2's
        video predictor does before storing it: what is published, what a correction starts from,
        and (upsampled) what a prompted frame is remembered by. A tracked frame is remembered by
        the decoder's high-resolution mask, not cleaned, as in the reference."""
        low_res_masks = clean_mask_logits(
            output.low_res_masks,
            fill_hole_area=self.options.fill_hole_area,
            min_region_area=self.options.min_region_area,
        )
        return dataclasses.replace(output, low_res_masks=low_res_masks)

    def _encode_memory(self, features: ImageFeatures, output: DecoderOutput, *, prompted: bool) -> torch.Tensor:
        """(B, Cm, h, w) memory features rounded to the storage dtype. Caches the memory's position
        encoding, which is the same for every frame."""
        memory_features, memory_pos = step.encode_memory(self.model, features, output, prompted=prompted)
        if self._memory_pos is None:
            self._memory_pos = memory_pos[:1].float()
        return memory_features.to(self._memory_dtype)

    def _memory_context(self, memories: list[ObjectMemory], frame_index: int) -> MemoryContext:
        return memory_context(self.model, memories, frame_index, self._memory_pos)

    # ----------------------------------------------------------------- memory

    def _forget_unreadable(self) -> None:
        """Drop what neither the next frame nor a prompt on a held frame can read."""
        oldest_held = self._frames[0].frame_index
        for memory in self._objects.values():
            memory.forget(oldest_held)

    def _new_memory(self) -> ObjectMemory:
        motion = self.options.motion_settings if self.options.motion else None
        return ObjectMemory.for_model(self.config, max_conditioning=self.options.max_conditioning_frames, motion=motion)

    # ----------------------------------------------------------------- helpers

    def _encode(self, image: np.ndarray | torch.Tensor) -> ImageFeatures:
        if isinstance(image, np.ndarray):
            image = torch.from_numpy(np.ascontiguousarray(image))
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != torch.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {tuple(image.shape)} {image.dtype}")
        with self._autocast():
            return self.model.encode_image(self.model.preprocess(image.to(self.device)))

    def _check_prompt(self, object_id: int, prompt: Prompt, image_size: tuple[int, int]) -> ModelPrompt:
        if not isinstance(prompt, Prompt):
            raise PromptError(f"object {object_id}: expected a Prompt, got {type(prompt).__name__}")
        try:
            return prepare_prompt(prompt, image_size, self.config.image_size, self.device)
        except PromptError as error:
            raise PromptError(f"object {object_id}: {error}") from None

    def _check_capacity(self, prompts: dict[int, ModelPrompt]) -> None:
        new = [obj for obj in prompts if obj not in self._objects]
        if len(self._objects) + len(new) > self.options.max_objects:
            raise PromptError(
                f"cannot add objects {new}: {len(self._objects)} of at most {self.options.max_objects} are tracked"
            )

    def _held_frame(self, frame_index: int) -> HeldFrame:
        for frame in self._frames:
            if frame.frame_index == frame_index:
                return frame
        held = self.held_frames
        span = f"frames {held[0]}..{held[-1]}" if held else "no frame yet"
        raise PromptError(f"frame {frame_index} is not held; the tracker holds {span}")

    def _autocast(self) -> torch.autocast:
        return autocast(self.precision, self.device)

    def _results(
        self, groups: list[DecodedGroup], image_size: tuple[int, int], health: dict[int, TrackHealth]
    ) -> dict[int, ObjectResult]:
        """Every object of `groups` on the frame, as one batch that leaves the device once."""
        if not groups:
            return {}
        object_ids = [obj for group in groups for obj in group.object_ids]
        outputs = [group.output for group in groups]
        return object_results(
            object_ids,
            low_res_masks=torch.cat([output.low_res_masks for output in outputs]),  # (N, 1, S/4, S/4)
            object_score_logits=torch.cat([output.object_score_logits for output in outputs]),  # (N, 1)
            iou=torch.cat([output.iou for output in outputs]),  # (N, 1)
            object_pointers=torch.cat([output.object_pointer for output in outputs]),  # (N, C)
            image_size=image_size,
            health=[health.get(obj, TrackHealth.TRACKED) for obj in object_ids],
        )
