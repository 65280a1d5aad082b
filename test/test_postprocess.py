"""Mask clean-up (SAM 2's hole filling and small-region removal) in the tracker and the node."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from std_msgs.msg import Header

from sam2_ros.conversions import tracked_object
from sam2core import build_model
from sam2core.tracking import Prompt, StreamingTracker, TrackerOptions
from sam2core.tracking.postprocess import HOLE_LOGIT, SPECK_LOGIT, clean_mask_logits
from sam2core.tracking.results import mask_geometry

SIZE = 128  # the demo model's input: a 32 x 32 low-resolution mask, 4 x 4 pixels each


def _logits(foreground: np.ndarray) -> torch.Tensor:
    """(1, 1, h, w) logits +5 on ``foreground`` and -5 elsewhere."""
    return torch.from_numpy(np.where(foreground, 5.0, -5.0).astype(np.float32))[None, None]


def test_small_holes_filled_and_specks_removed_on_logits():
    """At the boundaries: a 16 x 16 square with a 2 x 4 hole (8 pixels: filled) and a 3 x 3 hole
    (9: kept); beside it a 2 x 4 speck (8 pixels, fewer than 9: removed) and a 3 x 3 region (kept)."""
    foreground = np.zeros((32, 32), bool)
    foreground[2:18, 2:18] = True
    foreground[5:7, 4:8] = False
    foreground[10:13, 10:13] = False
    foreground[25:27, 24:28] = True
    foreground[22:25, 4:7] = True
    logits = _logits(foreground)
    cleaned = clean_mask_logits(logits, fill_hole_area=8, min_region_area=9)
    assert torch.equal(logits, _logits(foreground)), "the input must not change"
    assert torch.all(cleaned[0, 0, 5:7, 4:8] == HOLE_LOGIT)
    assert torch.all(cleaned[0, 0, 10:13, 10:13] == -5.0)
    assert torch.all(cleaned[0, 0, 25:27, 24:28] == SPECK_LOGIT)
    assert torch.all(cleaned[0, 0, 22:25, 4:7] == 5.0)
    changed = (cleaned != logits)[0, 0].numpy()
    assert changed.sum() == 16  # the small hole and the speck, nothing else
    assert torch.equal(clean_mask_logits(logits, fill_hole_area=0, min_region_area=0), logits)


def test_the_largest_region_is_kept_however_small_and_batches_are_separate():
    alone = np.zeros((32, 32), bool)
    alone[3:5, 3:5] = True  # 4 pixels, the mask's only region
    crowded = alone.copy()
    crowded[10:20, 10:20] = True
    cleaned = clean_mask_logits(torch.cat([_logits(alone), _logits(crowded)]), fill_hole_area=8, min_region_area=8)
    assert torch.all(cleaned[0, 0, 3:5, 3:5] == 5.0)  # kept: an object is never wiped out
    assert torch.all(cleaned[1, 0, 3:5, 3:5] == SPECK_LOGIT)
    empty = clean_mask_logits(_logits(np.zeros((32, 32), bool)), fill_hole_area=8, min_region_area=8)
    assert torch.all(empty == -5.0)  # all background is one large component: no hole


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("sam2.1_hiera_demo", image_size=SIZE)


def _prompt_mask() -> np.ndarray:
    """(128, 128) bool: a 48 x 48 square with an 8 x 8 hole, and an 8 x 8 speck far from it."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[16:64, 16:64] = True
    mask[36:44, 36:44] = False
    mask[100:108, 100:108] = True
    return mask


def test_tracker_output_is_filled_and_cleaned_and_so_is_the_node_message(model):
    """A mask prompt is its own output: with the defaults, its hole (4 low-resolution pixels)
    is filled and its speck removed; the box, centroid and area the node publishes are the
    square's. With the clean-up off, both stay."""
    image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    result = (
        StreamingTracker(model, TrackerOptions(precision="float32"))
        .track(image, {1: Prompt(mask=_prompt_mask())})
        .objects[1]
    )
    mask = result.mask.numpy()
    assert mask[36:44, 36:44].all() and not mask[96:112, 96:112].any()
    assert result.box == mask_geometry(result.mask).box and result.box[2] < 70 and result.box[3] < 70
    message = tracked_object(result, Header())
    assert message.box.x_offset + message.box.width < 70 and message.box.y_offset + message.box.height < 70
    assert message.mask_area == int(mask.sum()) and abs(message.centroid.x - 39.5) < 1.5

    raw = StreamingTracker(model, TrackerOptions(fill_hole_area=0, min_region_area=0, precision="float32")).track(
        image, {1: Prompt(mask=_prompt_mask())}
    )
    raw_mask = raw.objects[1].mask.numpy()
    assert not raw_mask[38:42, 38:42].any() and raw_mask[102:106, 102:106].all()
    assert raw.objects[1].box[2] > 100


def test_bad_areas_are_rejected(model):
    with pytest.raises(ValueError, match="fill_hole_area must be at least 0"):
        StreamingTracker(model, TrackerOptions(fill_hole_area=-1))
    with pytest.raises(ValueError, match="min_region_area must be at least 0"):
        StreamingTracker(model, TrackerOptions(min_region_area=-3))
