"""One object's memory bank: what it keeps of past frames, bounded whatever the stream length.

The selection rules are SAM 2's (its video predictor at stride 1):
- spatial memory for frame f: every conditioning frame (temporal index 0; later ones too, when
  f is a past frame being corrected) and the tracked frames f-6 .. f-1 (temporal indices
  1 .. 6, the nearest last);
- object pointers for frame f: the conditioning frames at or before f (signed offset f - t) and
  the tracked frames f-15 .. f-1 (offset f - t).
A conditioning frame is one the object was prompted on; it is never also a tracked frame.
In motion-aware mode the tracked frames of spatial memory are chosen by `ReliableFrames`
(SAMURAI's rule) instead of `RecentFrames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sam2core.config import SAM2Config
from sam2core.modeling.outputs import DecoderOutput, MemoryContext
from sam2core.modeling.sam2 import SAM2Model
from sam2core.tracking.motion import MotionChoice, MotionSettings, MotionTrack

# One object's memory tokens and their position encodings, each (N, Cm).
TokensAndPositions = tuple[torch.Tensor, torch.Tensor]


@dataclass
class MemoryEntry:
    """What one object keeps of one frame.

    memory_features: (Cm, h, w) in the tracker's storage dtype; dropped (None) once the frame can
        no longer enter spatial memory, while its pointer may still be read.
    object_pointer: (C,) the object's embedding on that frame.
    object_score: () logit that the object is visible.
    mask_logits: (1, S/4, S/4) low-resolution mask logits; kept while the frame is held, because a
        correction on that frame starts from it.
    motion: in motion-aware mode, the candidate kept on that frame, its scores and the object's
        motion state after it; None otherwise.
    """

    frame_index: int
    is_conditioning: bool
    object_pointer: torch.Tensor
    object_score: torch.Tensor
    memory_features: torch.Tensor | None
    mask_logits: torch.Tensor | None
    motion: MotionChoice | None = None


# Tracked entries by frame index.
TrackedEntries = dict[int, MemoryEntry]


@dataclass(frozen=True)
class RecentFrames:
    """SAM 2's spatial memory: the `count` tracked frames just before the current one, each at
    the temporal index of its distance (the previous frame at `count`)."""

    count: int

    @property
    def reach(self) -> int:
        """How many frames back from the current one a selection may reach."""
        return self.count

    def select(self, tracked: TrackedEntries, frame_index: int, start_frame: int) -> list[tuple[int, MemoryEntry]]:
        """(temporal index, entry) pairs of the tracked frames that frame `frame_index` attends to."""
        chosen = []
        for frames_back in range(self.count, 0, -1):
            entry = tracked.get(frame_index - frames_back)
            if entry is not None:
                chosen.append((self.count + 1 - frames_back, entry))
        return chosen

    def feature_frames(self, tracked: TrackedEntries, oldest_frame: int, start_frame: int) -> set[int]:
        """Tracked frames whose memory features a frame at or after `oldest_frame` may read."""
        return {t for t in tracked if t >= oldest_frame - self.count}


@dataclass(frozen=True)
class ReliableFrames:
    """SAMURAI's spatial memory: the previous frame, and before it the `count - 1` most recent
    tracked frames that pass the thresholds of `settings` (`passes`), searched back at most
    `settings.memory_window` frames. Temporal indices go by rank, not distance: the previous
    frame gets `count`, the next most recent chosen one `count - 1`, and so on.

    As in SAMURAI's reference, the search never reaches the object's first frame after its
    start frame (the reference's loop stops before frame 1 of a stream prompted on frame 0);
    that frame still serves as the previous frame.
    """

    count: int
    settings: MotionSettings

    @property
    def reach(self) -> int:
        return self.settings.memory_window

    def passes(self, entry: MemoryEntry) -> bool:
        """Whether a tracked frame is reliable enough to be remembered."""
        choice, settings = entry.motion, self.settings
        return (
            choice is not None
            and choice.iou > settings.memory_min_iou
            and float(entry.object_score) > settings.memory_min_object_score
            and (choice.motion_iou is None or choice.motion_iou > settings.memory_min_motion_iou)
        )

    def select(self, tracked: TrackedEntries, frame_index: int, start_frame: int) -> list[tuple[int, MemoryEntry]]:
        """(temporal index, entry) pairs of the tracked frames that frame `frame_index` attends to."""
        frames = self._passing(tracked, frame_index, start_frame)[::-1] + [frame_index - 1]
        ranks = range(self.count + 1 - len(frames), self.count + 1)
        return [(rank, tracked[t]) for rank, t in zip(ranks, frames) if t in tracked]

    def feature_frames(self, tracked: TrackedEntries, oldest_frame: int, start_frame: int) -> set[int]:
        """Tracked frames whose memory features a frame at or after `oldest_frame` may read: the
        frames from `oldest_frame - 1` on, and the passing frames `oldest_frame` would choose
        (a later frame chooses among them and newer ones)."""
        keep = {t for t in tracked if t >= oldest_frame - 1}
        return keep.union(self._passing(tracked, oldest_frame, start_frame))

    def _passing(self, tracked: TrackedEntries, frame_index: int, start_frame: int) -> list[int]:
        """Up to count - 1 passing frames for frame `frame_index`, newest first, from
        frame_index - 2 back to the lower end of the window."""
        lowest = max(start_frame + 2, frame_index - self.settings.memory_window)
        found = []
        for t in range(frame_index - 2, lowest - 1, -1):
            if len(found) == self.count - 1:
                break
            entry = tracked.get(t)
            if entry is not None and self.passes(entry):
                found.append(t)
        return found


class ObjectMemory:
    """The conditioning and tracked frames one object remembers."""

    def __init__(
        self,
        *,
        num_recent: int,
        pointer_window: int,
        max_conditioning: int,
        motion: MotionSettings | None = None,
    ):
        """num_recent: tracked frames in spatial memory (SAM 2: num_maskmem - 1 = 6).
        pointer_window: pointers read per frame, conditioning ones excluded (SAM 2: 16 - 1).
        max_conditioning: conditioning frames kept; the oldest beyond it become tracked frames.
        motion: settings of motion-aware mode (SAMURAI's memory selection), None for SAM 2's."""
        self.num_recent = num_recent
        self.pointer_window = pointer_window
        self.max_conditioning = max_conditioning
        self.selection = RecentFrames(num_recent) if motion is None else ReliableFrames(num_recent, motion)
        self.conditioning: dict[int, MemoryEntry] = {}
        self.tracked: TrackedEntries = {}
        self.start_frame: int | None = None  # the first frame the object was seen on

    @classmethod
    def for_model(
        cls, config: SAM2Config, *, max_conditioning: int, motion: MotionSettings | None = None
    ) -> ObjectMemory:
        """A memory with SAM 2's windows for a model `config`: num_maskmem - 1
        recent frames and max_obj_ptrs_in_encoder - 1 tracked pointers."""
        return cls(
            num_recent=config.num_maskmem - 1,
            pointer_window=config.max_obj_ptrs_in_encoder - 1,
            max_conditioning=max_conditioning,
            motion=motion,
        )

    def entry(self, frame_index: int) -> MemoryEntry | None:
        return self.conditioning.get(frame_index) or self.tracked.get(frame_index)

    def store(self, entry: MemoryEntry) -> None:
        """Keep `entry`, replacing whatever this object had for that frame."""
        self.conditioning.pop(entry.frame_index, None)
        self.tracked.pop(entry.frame_index, None)
        if self.start_frame is None or entry.frame_index < self.start_frame:
            self.start_frame = entry.frame_index
        if not entry.is_conditioning:
            self.tracked[entry.frame_index] = entry
            return
        self.conditioning[entry.frame_index] = entry
        while len(self.conditioning) > self.max_conditioning:
            oldest = min(self.conditioning)
            demoted = self.conditioning.pop(oldest)
            demoted.is_conditioning = False
            self.tracked[oldest] = demoted

    def spatial_memories(self, frame_index: int) -> list[tuple[int, MemoryEntry]]:
        """(temporal index, entry) pairs whose memory features frame `frame_index` attends to."""
        chosen = [(0, self.conditioning[t]) for t in sorted(self.conditioning)]
        return chosen + self.selection.select(self.tracked, frame_index, self.start_frame)

    def motion_before(self, frame_index: int) -> MotionTrack:
        """The object's motion state before frame `frame_index`: after the latest earlier frame
        that recorded one (a fresh state if none did)."""
        earlier = [t for t in {**self.tracked, **self.conditioning} if t < frame_index and self.entry(t).motion]
        return self.entry(max(earlier)).motion.track if earlier else MotionTrack()

    def pointer_memories(self, frame_index: int) -> list[tuple[int, MemoryEntry]]:
        """(signed frame offset, entry) pairs whose object pointers frame `frame_index` reads."""
        chosen = [(frame_index - t, self.conditioning[t]) for t in sorted(self.conditioning) if t <= frame_index]
        for frames_back in range(1, self.pointer_window + 1):
            entry = self.tracked.get(frame_index - frames_back)
            if entry is not None:
                chosen.append((frames_back, entry))
        return chosen

    def forget(self, oldest_frame: int) -> None:
        """Free what no frame at or after `oldest_frame` reads: tracked entries beyond the
        pointer window and the selection's reach, memory features the selection cannot pick,
        mask logits of frames before `oldest_frame`."""
        before = oldest_frame - max(self.pointer_window, self.selection.reach)
        for t in [t for t in self.tracked if t < before]:
            del self.tracked[t]
        keep_features = self.selection.feature_frames(self.tracked, oldest_frame, self.start_frame)
        for t, entry in self.tracked.items():
            if t not in keep_features:
                entry.memory_features = None
        for t, entry in {**self.tracked, **self.conditioning}.items():
            if t < oldest_frame:
                entry.mask_logits = None

    def forget_tracked(self, *, before: int) -> None:
        """Drop the tracked (not prompted) frames before frame `before`: what the object's mask
        followed there is not to be read again (e.g. it followed the wrong thing)."""
        for t in [t for t in self.tracked if t < before]:
            del self.tracked[t]

    def __len__(self) -> int:
        return len(self.conditioning) + len(self.tracked)


def remember(
    memories: list[ObjectMemory],
    frame_index: int,
    output: DecoderOutput,
    memory_features: torch.Tensor,
    *,
    is_conditioning: bool,
    motion: list[MotionChoice] | None = None,
) -> None:
    """Store a batch's decoder output and memory features (B, Cm, h, w) of `frame_index`, object
    i of the batch into memories[i], with its motion choice in motion-aware mode."""
    for i, memory in enumerate(memories):
        memory.store(
            MemoryEntry(
                frame_index=frame_index,
                is_conditioning=is_conditioning,
                object_pointer=output.object_pointer[i].float(),
                object_score=output.object_score_logits[i, 0].float(),
                memory_features=memory_features[i],
                mask_logits=output.low_res_masks[i].float(),
                motion=None if motion is None else motion[i],
            )
        )


def memory_context(
    model: SAM2Model, memories: list[ObjectMemory], frame_index: int, memory_pos: torch.Tensor
) -> MemoryContext:
    """The memory tokens a batch of objects attends to on `frame_index`.

    memory_pos: (1, Cm, h, w) the memory encoder's position encoding (the same for every frame).
    Objects may remember different numbers of frames: shorter ones are padded with masked tokens,
    so the batch shares one layout [spatial frames | object-pointer tokens] and `valid` (B, M)
    marks the real tokens (None when every token is real).
    """
    spatial = [memory.spatial_memories(frame_index) for memory in memories]
    pointers = [memory.pointer_memories(frame_index) for memory in memories]
    tokens_per_frame = memory_pos[0, 0].numel()
    tokens_per_pointer = model.config.hidden_dim // model.config.memory_dim
    frame_slots = max(len(chosen) for chosen in spatial)
    pointer_slots = max(len(chosen) for chosen in pointers)
    tokens, positions, valid = [], [], []
    for object_spatial, object_pointers in zip(spatial, pointers):
        parts = [
            _padded(_spatial_tokens(model, object_spatial, memory_pos), frame_slots * tokens_per_frame, memory_pos),
            _padded(_pointer_tokens(model, object_pointers), pointer_slots * tokens_per_pointer, memory_pos),
        ]
        tokens.append(torch.cat([part[0] for part in parts]))
        positions.append(torch.cat([part[1] for part in parts]))
        valid.append(torch.cat([part[2] for part in parts]))
    # Known from the counts on the host: no device-to-host copy of `valid` in the frame loop.
    padded = any(len(s) < frame_slots or len(p) < pointer_slots for s, p in zip(spatial, pointers))
    return MemoryContext(
        tokens=torch.stack(tokens, dim=1),  # (M, B, Cm)
        pos=torch.stack(positions, dim=1),  # (M, B, Cm)
        num_pointer_tokens=pointer_slots * tokens_per_pointer,
        valid=torch.stack(valid) if padded else None,  # (B, M)
    )


def _spatial_tokens(
    model: SAM2Model, chosen: list[tuple[int, MemoryEntry]], memory_pos: torch.Tensor
) -> TokensAndPositions | None:
    """(tokens (n*hw, Cm), pos (n*hw, Cm)) of one object's n spatial memories, or None."""
    if not chosen:
        return None
    tokens, positions = [], []
    for temporal_index, entry in chosen:
        features = entry.memory_features[None].to(memory_pos.dtype)  # (1, Cm, h, w)
        frame_tokens, frame_pos = model.spatial_memory_tokens(features, memory_pos, temporal_index)
        tokens.append(frame_tokens[:, 0])
        positions.append(frame_pos[:, 0])
    return torch.cat(tokens), torch.cat(positions)


def _pointer_tokens(model: SAM2Model, chosen: list[tuple[int, MemoryEntry]]) -> TokensAndPositions | None:
    """(tokens (P*C/Cm, Cm), pos) of one object's P object pointers, or None."""
    if not chosen:
        return None
    offsets = torch.tensor([offset for offset, _ in chosen], device=chosen[0][1].object_pointer.device)
    pointers = torch.stack([entry.object_pointer for _, entry in chosen])[:, None]  # (P, 1, C)
    tokens, positions = model.pointer_tokens(pointers, offsets)
    return tokens[:, 0], positions[:, 0]


def _padded(
    part: TokensAndPositions | None, length: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(tokens, pos, valid) of `length` rows: `part` followed by zero rows marked invalid.
    `like` (1, Cm, h, w) gives the width, dtype and device."""
    if part is None:
        part = (like.new_zeros(0, like.shape[1]),) * 2
    tokens, positions = part
    padding = length - len(tokens)
    valid = torch.ones(length, dtype=torch.bool, device=like.device)
    valid[len(tokens) :] = False
    return F.pad(tokens, (0, 0, 0, padding)), F.pad(positions, (0, 0, 0, padding)), valid
