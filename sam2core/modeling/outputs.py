"""The typed values that SAM2Model's methods take and return.

Shapes use B for the batch (objects), C for the model width, Cm for the memory width, S for the
input image size and h = w = S / 16 for the lowest-resolution feature grid.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class ImageFeatures:
    """The encoded image, ready for the SAM heads, memory attention and the memory encoder."""

    vision_features: Tensor  # (B, C, h, w) lowest-resolution FPN level
    vision_pos: Tensor  # (B, C, h, w) its sine position encoding
    high_res_features: tuple[Tensor, Tensor]  # ((B, C/8, 4h, 4w), (B, C/4, 2h, 2w)), projected

    @property
    def batch_size(self) -> int:
        return self.vision_features.shape[0]

    def expand(self, batch_size: int) -> "ImageFeatures":
        """The features of one image shared by `batch_size` objects (views, no copies)."""
        if self.batch_size != 1:
            raise ValueError(f"can only expand the features of one image, not {self.batch_size}")
        return self._map(lambda tensor: tensor.expand(batch_size, -1, -1, -1))

    def index(self, batch_indices: Sequence[int] | Tensor) -> "ImageFeatures":
        """The features of the images at `batch_indices`, in that order."""
        return self._map(lambda tensor: tensor[batch_indices])

    def _map(self, function: Callable[[Tensor], Tensor]) -> "ImageFeatures":
        return ImageFeatures(
            vision_features=function(self.vision_features),
            vision_pos=function(self.vision_pos),
            high_res_features=tuple(function(level) for level in self.high_res_features),
        )


@dataclass(frozen=True)
class DecoderOutput:
    """The SAM heads' prediction for one frame. Absent objects (object score <= 0) have every
    mask logit set to NO_OBJECT_MASK_LOGIT."""

    low_res_masks: Tensor  # (B, 1, 4h, 4w) logits of the chosen mask
    high_res_masks: Tensor  # (B, 1, S, S) the same upsampled to the input size
    iou: Tensor  # (B, 1) predicted IoU of the chosen mask
    object_pointer: Tensor  # (B, C)
    object_score_logits: Tensor  # (B, 1) > 0 where the object is present
    low_res_multimasks: Tensor  # (B, M, 4h, 4w) all M candidate masks (M = 3 or 1)
    multimask_iou: Tensor  # (B, M)
    multimask_tokens: Tensor  # (B, M, C) each candidate's output token, its object pointer's source

    def select(self, index: int) -> "DecoderOutput":
        """The output of batch element `index`, as a batch of one."""
        return self.index(slice(index, index + 1))

    def index(self, batch_indices: Sequence[int] | slice) -> "DecoderOutput":
        """The outputs of the batch elements at `batch_indices`, in that order."""
        return DecoderOutput(**{name: getattr(self, name)[batch_indices] for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class MemoryContext:
    """What the current frame attends to: spatial memory tokens, then object-pointer tokens."""

    tokens: Tensor  # (M, B, Cm)
    pos: Tensor  # (M, B, Cm)
    num_pointer_tokens: int  # how many of the last tokens are object pointers
    # (B, M) True for real tokens, False for padding (objects of one batch that remember
    # different numbers of frames); None when every token is real.
    valid: Tensor | None = None

    def select(self, first: int, stop: int) -> "MemoryContext":
        """The memory of objects first..stop-1 of the batch (the whole context when that is all)."""
        if first == 0 and stop >= self.tokens.shape[1]:
            return self
        valid = None if self.valid is None else self.valid[first:stop]
        return MemoryContext(self.tokens[:, first:stop], self.pos[:, first:stop], self.num_pointer_tokens, valid)
