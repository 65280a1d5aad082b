"""The `segment` and `segment_everything` services' work, without ROS plumbing: request messages
in, sam2core's ImagePredictor / AutomaticMaskGenerator on a held image, response fields out.
The tracker's model runs in the tracker's precision; the node runs this work on the tracking
thread, so it never runs the model alongside the tracker. Bad requests raise ValueError
(ConversionError, PromptError) with the reason."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sam2_ros.conversions import ConversionError, mask_to_image, prompt_from_msg
from sam2_ros.session import Frame
from sam2_ros.srv import Segment, SegmentEverything
from sam2core import AutomaticMaskGenerator, ImagePredictor
from sam2core.masks import masks_to_boxes
from sam2core.precision import autocast
from sam2core.tracking import StreamingTracker
from sam2core.tracking.prompt import prepare_prompt

MAX_POINTS_PER_SIDE = 64  # 4,096 clicks: minutes on a CPU already
MAX_CROP_LAYERS = 2


def segment(tracker: StreamingTracker, frame: Frame, request: Segment.Request) -> Segment.Response:
    """The candidate masks of `request.prompt` on `frame` by the tracker's model (success left to the caller)."""
    model = tracker.model
    prompt = prompt_from_msg(request.prompt)
    if prompt.mask is not None:
        raise ConversionError("segment takes clicks and boxes; give masks to add_prompt")
    image_size = frame.image.shape[:2]
    model_prompt = prepare_prompt(prompt, image_size, model.config.image_size, model.device)
    predictor = ImagePredictor(model)
    with torch.no_grad(), autocast(tracker.precision, tracker.device):
        predictor.set_image(frame.image)
        logits, scores, _ = predictor.predict_tensors(
            model_prompt.points, model_prompt.labels, multimask_output=request.multimask_output
        )
    order = torch.argsort(scores[0], descending=True)
    return _filled(Segment.Response(), frame, logits[0, order] > 0, scores[0, order])


def segment_everything(
    tracker: StreamingTracker,
    frame: Frame,
    request: SegmentEverything.Request,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[SegmentEverything.Response, list[np.ndarray]]:
    """The automatic masks of `frame` by the tracker's model (success left to the caller), and the
    (H, W) bool masks to track (none unless request.track). should_stop: see generate_candidates."""
    generator = AutomaticMaskGenerator(tracker.model, **generator_options(request))
    with autocast(tracker.precision, tracker.device):
        candidates = generator.generate_candidates(frame.image, should_stop)
    order = torch.argsort(candidates.iou, descending=True, stable=True)
    if request.max_masks > 0:
        order = order[: request.max_masks]
    candidates = candidates.select(order)
    masks = torch.from_numpy(candidates.masks()).reshape(-1, *frame.image.shape[:2])
    response = _filled(SegmentEverything.Response(), frame, masks, candidates.iou)
    response.stability_scores = candidates.stability.float().tolist()
    if not request.track:
        return response, []
    indices = list(request.track_indices) or list(range(len(masks)))
    outside = [index for index in indices if not 0 <= index < len(masks)]
    if outside:
        raise ConversionError(f"track_indices {outside} name no returned mask (there are {len(masks)})")
    return response, [masks[index].numpy() for index in indices]


def generator_options(request: SegmentEverything.Request) -> dict:
    """The AutomaticMaskGenerator options of a request, checked (ValueError says which)."""
    if not 1 <= request.points_per_side <= MAX_POINTS_PER_SIDE:
        raise ConversionError(f"points_per_side must be in 1..{MAX_POINTS_PER_SIDE}, got {request.points_per_side}")
    if not 0 <= request.crop_n_layers <= MAX_CROP_LAYERS:
        raise ConversionError(f"crop_n_layers must be in 0..{MAX_CROP_LAYERS}, got {request.crop_n_layers}")
    if request.points_per_batch < 1 or request.min_mask_region_area < 0 or request.max_masks < 0:
        raise ConversionError("points_per_batch must be >= 1; min_mask_region_area and max_masks >= 0")
    thresholds = {
        "pred_iou_thresh": request.pred_iou_thresh,
        "stability_score_thresh": request.stability_score_thresh,
        "box_nms_thresh": request.box_nms_thresh,
    }
    for name, value in thresholds.items():
        if not 0.0 < value <= 1.0:
            raise ConversionError(f"{name} must be in (0, 1], got {value:g}")
    return {
        "points_per_side": request.points_per_side,
        "points_per_batch": request.points_per_batch,
        "crop_n_layers": request.crop_n_layers,
        "min_mask_region_area": request.min_mask_region_area,
        **thresholds,
    }


def _filled(response, frame: Frame, masks: torch.Tensor, scores: torch.Tensor):
    """`response` with masks (N, H, W) bool and scores (N,) in its header, masks, scores and
    boxes."""
    response.header = frame.header
    response.masks = [mask_to_image(mask.cpu().numpy().astype(np.uint8) * 255, frame.header) for mask in masks]
    response.scores = scores.float().cpu().tolist()
    response.boxes = masks_to_boxes(masks.cpu()).float().flatten().tolist()
    return response
