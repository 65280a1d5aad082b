"""ImagePredictor: SAM 2 on single images. The image is encoded once, then any number of point,
box and mask prompts are decoded against it (the API and answers of Meta's `SAM2ImagePredictor`,
at any model size)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sam2core.masks import fill_small_regions
from sam2core.modeling.outputs import ImageFeatures
from sam2core.modeling.preprocess import preprocess_image_bilinear
from sam2core.modeling.sam2 import SAM2Model
from sam2core.point_labels import box_corner_points

# Low-res mask logits handed back for the next prompt are clamped to this magnitude.
LOW_RES_LOGIT_LIMIT = 32.0


@dataclass(frozen=True)
class Segmentation:
    """The masks predicted for one prompt (or B prompts: a leading B axis on every array)."""

    masks: np.ndarray  # (M, H, W) bool, or float logits when asked for logits
    iou_predictions: np.ndarray  # (M,) predicted IoU of each mask
    low_res_logits: np.ndarray  # (M, S/4, S/4) logits, clamped, to prompt a refinement with

    @property
    def best(self) -> np.ndarray:
        """The mask (H, W) with the highest predicted IoU (of the first prompt in a batch)."""
        masks = self.masks if self.masks.ndim == 3 else self.masks[0]
        scores = self.iou_predictions if self.iou_predictions.ndim == 1 else self.iou_predictions[0]
        return masks[int(np.argmax(scores))]


@dataclass(frozen=True)
class _EncodedImages:
    features: ImageFeatures  # batch of N images, no_mem_embed already added
    sizes: tuple[tuple[int, int], ...]  # (H, W) of each original image


class ImagePredictor:
    """Predicts masks on one image (or a batch) from prompts in original-image pixels."""

    def __init__(
        self,
        model: SAM2Model,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
    ) -> None:
        """mask_threshold: the logit above which a pixel is in the mask. max_hole_area,
        max_sprinkle_area: holes and specks of at most this many low-res pixels are removed
        from the masks (not from the low-res logits returned); 0 turns this off."""
        self.model = model
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self._encoded: _EncodedImages | None = None
        self._is_batch = False

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def is_image_set(self) -> bool:
        return self._encoded is not None

    @property
    def original_size(self) -> tuple[int, int]:
        """(H, W) of the image set (the first of a batch)."""
        return self._require_image().sizes[0]

    def reset_predictor(self) -> None:
        """Forget the image (and free its features)."""
        self._encoded = None
        self._is_batch = False

    @torch.no_grad()
    def set_image(self, image: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB image for the next predictions."""
        self.set_image_batch([image])
        self._is_batch = False

    @torch.no_grad()
    def set_image_batch(self, images: Sequence[np.ndarray]) -> None:
        """Encode several (H, W, 3) uint8 RGB images (any sizes) for `predict_batch`."""
        self.reset_predictor()
        if len(images) == 0:
            raise ValueError("set_image_batch needs at least one image")
        size = self.model.config.image_size
        inputs = torch.cat([preprocess_image_bilinear(i, size, self.device) for i in images])
        features = self.model.encode_image(inputs)  # N images
        conditioned = self.model.condition_on_memory(features)  # adds no_mem_embed
        self._encoded = _EncodedImages(
            features=ImageFeatures(
                vision_features=conditioned,
                vision_pos=features.vision_pos,
                high_res_features=features.high_res_features,
            ),
            sizes=tuple((int(i.shape[0]), int(i.shape[1])) for i in images),
        )
        self._is_batch = True

    def get_image_embedding(self) -> Tensor:
        """(N, C, S/16, S/16) embedding of the image(s) set."""
        return self._require_image().features.vision_features

    @torch.no_grad()
    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for prompts on the image set, as numpy arrays (masks, iou_predictions,
        low_res_masks) of shapes (M, H, W), (M,), (M, S/4, S/4) for one prompt, with a leading
        B axis for B prompts (B boxes (B, 4), or points (B, N, 2)).

        point_coords: (N, 2) or (B, N, 2) xy pixels of the original image, with point_labels
            (N,) or (B, N): 1 foreground, 0 background. box: (4,) or (B, 4) x0 y0 x1 y1.
        mask_input: (1, S/4, S/4) or (B, 1, S/4, S/4) low-res logits of an earlier prediction.
        multimask_output: 3 candidate masks (M = 3), else M = 1.
        return_logits: mask logits instead of masks thresholded at `mask_threshold`.
        normalize_coords: the coordinates are pixels of the original image; False: they are
            already in 0..1 of the image's width and height.
        """
        result = self.segment(
            point_coords,
            point_labels,
            box,
            mask_input,
            multimask=multimask_output,
            as_logits=return_logits,
            pixel_coords=normalize_coords,
        )
        # Meta's predictor returns thresholded masks as float32 0 / 1.
        return result.masks.astype(np.float32), result.iou_predictions, result.low_res_logits

    @torch.no_grad()
    def segment(
        self,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_logits: np.ndarray | None = None,
        *,
        multimask: bool = True,
        as_logits: bool = False,
        pixel_coords: bool = True,
        image_index: int = 0,
    ) -> Segmentation:
        """`predict` for new code, returning a Segmentation: points, labels, box and mask_logits
        as predict's point_coords, point_labels, box and mask_input; multimask: three candidate
        masks; as_logits: logits instead of bool masks; pixel_coords: coordinates in pixels of
        the original image (False: in 0..1); image_index: the image of a batch."""
        points, labels, boxes, masks = self._prompts(points, labels, box, mask_logits, pixel_coords, image_index)
        logits, iou, low_res = self.predict_tensors(points, labels, boxes, masks, multimask, image_index=image_index)
        if not as_logits:
            logits = logits > self.mask_threshold
        return Segmentation(
            masks=_to_numpy(logits.squeeze(0)),
            iou_predictions=_to_numpy(iou.squeeze(0)),
            low_res_logits=_to_numpy(low_res.squeeze(0)),
        )

    def predict_batch(
        self,
        point_coords_batch: Sequence[np.ndarray] | None = None,
        point_labels_batch: Sequence[np.ndarray] | None = None,
        box_batch: Sequence[np.ndarray] | None = None,
        mask_input_batch: Sequence[np.ndarray] | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """`predict` for each image of `set_image_batch`, with the prompts of image i at index i
        of each list; lists of masks, iou_predictions and low_res_masks."""
        if not self._is_batch:
            raise RuntimeError("predict_batch needs images set with set_image_batch")
        results = [
            self.segment(
                None if point_coords_batch is None else point_coords_batch[index],
                None if point_labels_batch is None else point_labels_batch[index],
                None if box_batch is None else box_batch[index],
                None if mask_input_batch is None else mask_input_batch[index],
                multimask=multimask_output,
                as_logits=return_logits,
                pixel_coords=normalize_coords,
                image_index=index,
            )
            for index in range(len(self._require_image().sizes))
        ]
        return (
            [result.masks.astype(np.float32) for result in results],
            [result.iou_predictions for result in results],
            [result.low_res_logits for result in results],
        )

    @torch.no_grad()
    def predict_tensors(
        self,
        points: Tensor | None,
        labels: Tensor | None,
        boxes: Tensor | None = None,
        mask_input: Tensor | None = None,
        multimask_output: bool = True,
        *,
        image_index: int = 0,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Prompts already in model-input pixels (0..S) -> mask logits at the original size
        (B, M, H, W), predicted IoU (B, M) and clamped low-res logits (B, M, S/4, S/4).

        points (B, N, 2) with labels (B, N); boxes (B, 4); mask_input (B, 1, S/4, S/4).
        """
        encoded = self._require_image()
        points, labels = box_corner_points(points, labels, boxes)
        prompts = points if points is not None else mask_input
        batch = 1 if prompts is None else prompts.shape[0]
        features = encoded.features.index([image_index]).expand(batch)
        prediction = self.model.predict_masks(features, points, labels, mask_input, multimask=multimask_output)
        low_res = prediction.masks.float()  # (B, M, S/4, S/4)
        size = encoded.sizes[image_index]
        filled = fill_small_regions(low_res, self.mask_threshold, self.max_hole_area, self.max_sprinkle_area)
        masks = F.interpolate(filled, size=size, mode="bilinear", align_corners=False)
        clamped = low_res.clamp(-LOW_RES_LOGIT_LIMIT, LOW_RES_LOGIT_LIMIT)
        return masks, prediction.iou, clamped

    def to_model_pixels(self, coords: Tensor, *, normalize: bool = True, image_index: int = 0) -> Tensor:
        """(..., 2) xy in original-image pixels (or, normalize=False, in 0..1) -> model-input
        pixels (0..S)."""
        height, width = self._require_image().sizes[image_index]
        if normalize:
            coords = coords / torch.tensor([width, height], dtype=coords.dtype, device=coords.device)
        return coords * self.model.config.image_size

    def _prompts(
        self,
        point_coords: np.ndarray | None,
        point_labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
        normalize: bool,
        image_index: int,
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
        """The numpy prompts as batched tensors in model-input pixels."""
        self._require_image()
        device = self.device
        points = labels = boxes = masks = None
        if (point_coords is None) != (point_labels is None):
            raise ValueError("point_coords and point_labels must be given together")
        if point_coords is not None:
            coords = torch.as_tensor(np.asarray(point_coords), dtype=torch.float, device=device)
            points = self.to_model_pixels(coords, normalize=normalize, image_index=image_index)
            labels = torch.as_tensor(np.asarray(point_labels), dtype=torch.int, device=device)
            if points.ndim == 2:  # one prompt of N points
                points, labels = points[None], labels[None]
        if box is not None:
            corners = torch.as_tensor(np.asarray(box), dtype=torch.float, device=device)
            corners = corners.reshape(-1, 2, 2)
            boxes = self.to_model_pixels(corners, normalize=normalize, image_index=image_index)
            boxes = boxes.reshape(-1, 4)
        if mask_input is not None:
            masks = torch.as_tensor(np.asarray(mask_input), dtype=torch.float, device=device)
            if masks.ndim == 3:
                masks = masks[None]
        return points, labels, boxes, masks

    def _require_image(self) -> _EncodedImages:
        if self._encoded is None:
            raise RuntimeError("set an image with set_image (or set_image_batch) before predicting")
        return self._encoded


def _to_numpy(tensor: Tensor) -> np.ndarray:
    """Float tensors as float32 arrays, boolean masks as bool arrays."""
    return tensor.float().cpu().numpy() if tensor.is_floating_point() else tensor.cpu().numpy()
