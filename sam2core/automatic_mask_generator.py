"""AutomaticMaskGenerator: "segment everything" with SAM 2 (the API and answers of Meta's
`SAM2AutomaticMaskGenerator`).

A grid of single-click prompts covers the image (and optionally overlapping crops of it); each
click gives candidate masks that are kept when their predicted IoU and their stability (the IoU
of the mask thresholded above and below the logit threshold) are high enough, and that do not
touch a crop's inner edge. Duplicates are removed by box NMS within each crop, then across crops
(smaller crops win). With min_mask_region_area, holes and specks up to that area (in low-res
mask pixels) are removed from every decoded mask first, as in Meta's predictor.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from sam2core.image_predictor import ImagePredictor
from sam2core.masks import (
    Crop,
    box_areas,
    box_xyxy_to_xywh,
    coco_rle,
    image_crops,
    layer_point_grids,
    mask_to_rle,
    masks_to_boxes,
    near_crop_edge,
    non_max_suppression,
    rle_area,
    rle_to_mask,
)
from sam2core.modeling.sam2 import SAM2Model

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


class GenerationStopped(RuntimeError):
    """generate_candidates was asked to stop before it finished."""


@dataclass(frozen=True)
class MaskCandidates:
    """N masks found on one image, in image pixels."""

    rles: list  # N uncompressed RLEs (see sam2core.masks.mask_to_rle)
    boxes: Tensor  # (N, 4) int64 x0 y0 x1 y1, inclusive
    iou: Tensor  # (N,) predicted IoU
    stability: Tensor  # (N,) stability score
    points: Tensor  # (N, 2) the click that produced each mask, xy
    crop_boxes: Tensor  # (N, 4) int64 x0 y0 x1 y1 of the crop each mask was found in

    def __len__(self) -> int:
        return len(self.rles)

    def select(self, indices: Tensor) -> "MaskCandidates":
        """The candidates at `indices` (int64), in that order."""
        indices = indices.cpu()
        return MaskCandidates(
            rles=[self.rles[i] for i in indices.tolist()],
            boxes=self.boxes[indices],
            iou=self.iou[indices],
            stability=self.stability[indices],
            points=self.points[indices],
            crop_boxes=self.crop_boxes[indices],
        )

    @classmethod
    def concatenate(cls, parts: list["MaskCandidates"]) -> "MaskCandidates":
        return cls(
            rles=[rle for part in parts for rle in part.rles],
            boxes=torch.cat([part.boxes for part in parts]),
            iou=torch.cat([part.iou for part in parts]),
            stability=torch.cat([part.stability for part in parts]),
            points=torch.cat([part.points for part in parts]),
            crop_boxes=torch.cat([part.crop_boxes for part in parts]),
        )

    def masks(self) -> np.ndarray:
        """(N, H, W) bool masks."""
        return np.stack([rle_to_mask(rle) for rle in self.rles]) if self.rles else np.zeros(0)


@dataclass(frozen=True)
class GeneratorOptions:
    """How an AutomaticMaskGenerator clicks, filters and returns masks: its constructor's
    arguments (see there), the point grids aside."""

    points_per_batch: int
    pred_iou_thresh: float
    stability_score_thresh: float
    stability_score_offset: float
    mask_threshold: float
    box_nms_thresh: float
    crop_n_layers: int
    crop_nms_thresh: float
    crop_overlap_ratio: float
    min_mask_region_area: int
    output_mode: str
    use_m2m: bool
    multimask_output: bool
    progress: bool


class AutomaticMaskGenerator:
    """Masks of everything in an image, from a grid of point prompts (see the module text).

    points_per_side: clicks per side of the grid (or point_grids: one (K, 2) grid in 0..1 per
    crop layer); points_per_batch: clicks decoded together; pred_iou_thresh,
    stability_score_thresh: minimum predicted IoU and stability (0 turns a filter off);
    stability_score_offset: the logit offset of the stability score; box_nms_thresh,
    crop_nms_thresh: IoU above which a box duplicates a better one within a crop / across crops;
    crop_n_layers: layers of 2x2, 4x4, ... crops besides the whole image; crop_overlap_ratio:
    their overlap as a fraction of the short side (at layer 1); crop_n_points_downscale_factor:
    fewer clicks per side in each deeper layer; min_mask_region_area: holes and specks of at
    most this many low-res pixels are removed from the masks (0: off); output_mode: "binary_mask", "uncompressed_rle" or
    "coco_rle"; use_m2m: refine each mask with itself as a mask prompt; multimask_output: three
    candidates per click, else one.
    """

    def __init__(  # Meta's SAM2AutomaticMaskGenerator's arguments, names and defaults
        self,
        model: SAM2Model,
        points_per_side: int | None = 32, points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8, stability_score_thresh: float = 0.95, stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0, box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0, crop_nms_thresh: float = 0.7, crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1, point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0, output_mode: str = "binary_mask", use_m2m: bool = False,
        multimask_output: bool = True, progress: bool = False,
    ) -> None:  # fmt: skip
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("give exactly one of points_per_side and point_grids")
        if point_grids is None:
            if not 1 <= points_per_side <= 256:
                raise ValueError(f"points_per_side must be in 1..256, got {points_per_side}")
            point_grids = layer_point_grids(points_per_side, crop_n_layers, crop_n_points_downscale_factor)
        elif len(point_grids) != crop_n_layers + 1:
            raise ValueError(f"need {crop_n_layers + 1} point grids, got {len(point_grids)}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if points_per_batch < 1 or crop_n_layers < 0 or crop_n_points_downscale_factor < 1:
            raise ValueError("points_per_batch and crop_n_points_downscale_factor must be >= 1 and crop_n_layers >= 0")
        for name, value in (
            ("pred_iou_thresh", pred_iou_thresh),
            ("stability_score_thresh", stability_score_thresh),
            ("box_nms_thresh", box_nms_thresh),
            ("crop_nms_thresh", crop_nms_thresh),
            ("crop_overlap_ratio", crop_overlap_ratio),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        self.options = GeneratorOptions(
            points_per_batch=points_per_batch,
            pred_iou_thresh=pred_iou_thresh,
            stability_score_thresh=stability_score_thresh,
            stability_score_offset=stability_score_offset,
            mask_threshold=mask_threshold,
            box_nms_thresh=box_nms_thresh,
            crop_n_layers=crop_n_layers,
            crop_nms_thresh=crop_nms_thresh,
            crop_overlap_ratio=crop_overlap_ratio,
            min_mask_region_area=min_mask_region_area,
            output_mode=output_mode,
            use_m2m=use_m2m,
            multimask_output=multimask_output,
            progress=progress,
        )
        self.point_grids = point_grids
        # Holes and specks are those of the logits at 0, whatever mask_threshold (as Meta's).
        area = min_mask_region_area
        self.predictor = ImagePredictor(model, max_hole_area=area, max_sprinkle_area=area)

    def generate(self, image: np.ndarray) -> list[dict]:
        """Masks of an (H, W, 3) uint8 RGB image, as Meta's generator returns them: one dict per
        mask with `segmentation` (per output_mode), `area`, `bbox` (x y w h), `predicted_iou`,
        `point_coords` ([[x, y]]), `stability_score` and `crop_box` (x y w h)."""
        candidates = self.generate_candidates(image)
        if len(candidates) == 0:
            options = self.options
            warnings.warn(
                f"no mask kept: every candidate fell below pred_iou_thresh={options.pred_iou_thresh} or "
                f"stability_score_thresh={options.stability_score_thresh}, or touched a crop's edge. A model with "
                "soft mask logits (the bundled demonstration model) needs a lower stability_score_thresh, e.g. 0.8",
                stacklevel=2,
            )
        return [self._annotation(candidates, index) for index in range(len(candidates))]

    @torch.no_grad()
    def generate_candidates(self, image: np.ndarray, should_stop: Callable[[], bool] | None = None) -> MaskCandidates:
        """The masks of an (H, W, 3) uint8 RGB image as MaskCandidates. should_stop: asked
        before each batch of clicks; when it answers True, GenerationStopped is raised."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        image_size = image.shape[:2]
        crops = image_crops(image_size, self.options.crop_n_layers, self.options.crop_overlap_ratio)
        candidates = MaskCandidates.concatenate(
            [self._segment_crop(image, crop, image_size, should_stop) for crop in crops]
        )
        if len(crops) > 1:
            smaller_crop_first = 1.0 / box_areas(candidates.crop_boxes).float()
            candidates = candidates.select(
                non_max_suppression(candidates.boxes, smaller_crop_first, self.options.crop_nms_thresh)
            )
        return candidates

    def _segment_crop(
        self,
        image: np.ndarray,
        crop: Crop,
        image_size: tuple[int, int],
        should_stop: Callable[[], bool] | None,
    ) -> MaskCandidates:
        x0, y0, x1, y1 = crop.box
        self.predictor.set_image(image[y0:y1, x0:x1])
        points = self.point_grids[crop.layer] * np.array([x1 - x0, y1 - y0])
        batches = []
        for start in tqdm(
            range(0, len(points), self.options.points_per_batch),
            desc=f"crop {crop.box}",
            disable=not self.options.progress,
        ):
            if should_stop is not None and should_stop():
                self.predictor.reset_predictor()
                raise GenerationStopped(f"stopped after {start} of {len(points)} clicks of a crop")
            batch = points[start : start + self.options.points_per_batch]
            batches.append(self._segment_points(batch, crop, image_size))
        self.predictor.reset_predictor()
        candidates = MaskCandidates.concatenate(batches)
        candidates = candidates.select(
            non_max_suppression(candidates.boxes, candidates.iou, self.options.box_nms_thresh)
        )
        offset = torch.tensor([x0, y0, x0, y0])
        return MaskCandidates(
            rles=candidates.rles,
            boxes=candidates.boxes + offset,  # image pixels
            iou=candidates.iou,
            stability=candidates.stability,
            points=candidates.points + offset[:2],
            crop_boxes=candidates.crop_boxes,
        )

    def _segment_points(self, points: np.ndarray, crop: Crop, image_size: tuple[int, int]) -> MaskCandidates:
        """Masks from one batch of K clicks (K, 2) in crop pixels; boxes in crop pixels."""
        device = self.predictor.device
        clicks = torch.as_tensor(points, dtype=torch.float32, device=device)
        model_clicks = self.predictor.to_model_pixels(clicks)[:, None]  # (K, 1, 2)
        labels = torch.ones(len(clicks), 1, dtype=torch.int, device=device)
        logits, iou, low_res = self.predictor.predict_tensors(
            model_clicks, labels, multimask_output=self.options.multimask_output
        )  # (K, M, h, w), (K, M), (K, M, S/4, S/4)
        per_click = logits.shape[1]
        logits, iou = logits.flatten(0, 1), iou.flatten(0, 1)  # (KM, h, w), (KM,)
        clicks = clicks.repeat_interleave(per_click, dim=0)
        if self.options.use_m2m:
            repeated = model_clicks.repeat_interleave(per_click, dim=0)
            logits, iou = self._refine_with_own_masks(repeated, low_res.flatten(0, 1))
        stability = self._stability(logits)
        keep = torch.ones_like(iou, dtype=torch.bool)
        if self.options.pred_iou_thresh > 0:
            keep &= iou > self.options.pred_iou_thresh
        if self.options.stability_score_thresh > 0:
            keep &= stability >= self.options.stability_score_thresh
        masks = logits[keep] > self.options.mask_threshold
        boxes = masks_to_boxes(masks)
        inside = ~near_crop_edge(boxes, crop.box, image_size)
        masks, boxes = masks[inside], boxes[inside]
        height, width = image_size
        x0, y0, x1, y1 = crop.box
        full_masks = F.pad(masks, (x0, width - x1, y0, height - y1), value=False)
        return MaskCandidates(
            rles=mask_to_rle(full_masks),
            boxes=boxes.cpu(),
            iou=iou[keep][inside].float().cpu(),
            stability=stability[keep][inside].cpu(),
            points=clicks[keep][inside].cpu(),
            crop_boxes=torch.tensor(crop.box).expand(len(boxes), 4),
        )

    def _refine_with_own_masks(self, clicks: Tensor, low_res: Tensor) -> tuple[Tensor, Tensor]:
        """Decode each click again with its own low-res mask (N, S/4, S/4) as mask prompt; one
        mask per click: logits (N, h, w) and IoU (N,)."""
        logits, iou = [], []
        for start in range(0, len(clicks), self.options.points_per_batch):
            batch = slice(start, start + self.options.points_per_batch)
            masks, scores, _ = self.predictor.predict_tensors(
                clicks[batch],
                torch.ones(clicks[batch].shape[:2], dtype=torch.int, device=clicks.device),
                mask_input=low_res[batch, None],
                multimask_output=False,
            )
            logits.append(masks[:, 0])
            iou.append(scores[:, 0])
        return torch.cat(logits), torch.cat(iou)

    def _stability(self, logits: Tensor) -> Tensor:
        """(N, h, w) -> (N,): IoU of the masks thresholded at threshold +/- offset."""
        high = self.options.mask_threshold + self.options.stability_score_offset
        low = self.options.mask_threshold - self.options.stability_score_offset
        inner = (logits > high).sum(dim=(-2, -1))
        outer = (logits > low).sum(dim=(-2, -1))
        return inner / outer

    def _annotation(self, candidates: MaskCandidates, index: int) -> dict:
        rle = candidates.rles[index]
        if self.options.output_mode == "binary_mask":
            segmentation = rle_to_mask(rle)
        elif self.options.output_mode == "coco_rle":
            segmentation = coco_rle(rle)
        else:
            segmentation = rle
        return {
            "segmentation": segmentation,
            "area": rle_area(rle),
            "bbox": box_xyxy_to_xywh(candidates.boxes[index]),
            "predicted_iou": candidates.iou[index].item(),
            "point_coords": [candidates.points[index].tolist()],
            "stability_score": candidates.stability[index].item(),
            "crop_box": box_xyxy_to_xywh(candidates.crop_boxes[index]),
        }
