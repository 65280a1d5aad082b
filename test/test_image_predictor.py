"""ImagePredictor against Meta's SAM2ImagePredictor on shared random weights: masks (logits at
the original size), predicted IoU and low-res logits, for points, boxes (several at once), mask
prompts and image batches, at several model sizes."""

import numpy as np
import pytest
import torch
import torchvision_standin
from oracle import PARITY_CASES, assert_close, assert_masks_match, case_id, model_pair

from sam2core import ImagePredictor, Segmentation

torchvision_standin.install()
image_predictor_module = pytest.importorskip("sam2.sam2_image_predictor")

SMALL_CASE = ("sam2.1_hiera_t", 256)


def random_rgb(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random (H, W, 3) uint8 image."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(height // 16, 2), max(width // 16, 2), generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    return (smooth[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def predictor_pair(case, *, released_postprocessing: bool = False):
    """(ours, Meta's) image predictors on the shared weights of model_pair(*case)."""
    ours, reference = model_pair(*case, released_postprocessing=released_postprocessing)
    meta = image_predictor_module.SAM2ImagePredictor(reference)
    size = case[1]
    meta._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
    return ImagePredictor(ours), meta


def assert_same_prediction(label: str, ours: tuple, reference: tuple) -> None:
    masks, iou, low_res = (torch.as_tensor(a) for a in ours)
    ref_masks, ref_iou, ref_low_res = (torch.as_tensor(a) for a in reference)
    assert_masks_match(f"{label} masks", masks, ref_masks)
    assert_close(f"{label} iou", iou, ref_iou)
    assert_masks_match(f"{label} low-res", low_res, ref_low_res)


def predict_both(pair, image: np.ndarray, **prompts):
    ours, meta = pair
    ours.set_image(image)
    meta.set_image(image)
    return (
        ours.predict(return_logits=True, **prompts),
        meta.predict(return_logits=True, **prompts),
    )


@pytest.mark.parametrize("case", PARITY_CASES, ids=case_id)
def test_one_click_three_masks(case):
    pair = predictor_pair(case)
    ours, reference = predict_both(
        pair,
        random_rgb(90, 120, seed=1),
        point_coords=np.array([[60.0, 40.0]]),
        point_labels=np.array([1]),
    )
    assert ours[0].shape == (3, 90, 120) and ours[1].shape == (3,)
    assert_same_prediction(case_id(case), ours, reference)


def test_box_and_points_single_mask_with_stability_fallback():
    pair = predictor_pair(SMALL_CASE, released_postprocessing=True)
    ours, reference = predict_both(
        pair,
        random_rgb(100, 80, seed=2),
        point_coords=np.array([[30.0, 50.0], [10.0, 10.0]]),
        point_labels=np.array([1, 0]),
        box=np.array([5.0, 20.0, 70.0, 90.0]),
        multimask_output=False,
    )
    assert ours[0].shape == (1, 100, 80)
    assert_same_prediction("box + points", ours, reference)


def test_several_boxes_at_once():
    pair = predictor_pair(SMALL_CASE)
    boxes = np.array([[0, 0, 40, 40], [20, 30, 100, 60], [50, 5, 95, 70]], dtype=np.float32)
    ours, reference = predict_both(pair, random_rgb(72, 100, seed=3), box=boxes)
    assert ours[0].shape == (3, 3, 72, 100) and ours[1].shape == (3, 3)
    assert_same_prediction("3 boxes", ours, reference)


def test_mask_prompt_refinement_and_mask_alone():
    pair = predictor_pair(SMALL_CASE)
    image = random_rgb(64, 64, seed=4)
    first, _ = predict_both(pair, image, point_coords=np.array([[20, 30]]), point_labels=[1])
    previous = first[2][np.argmax(first[1])][None]  # (1, S/4, S/4)
    ours, reference = predict_both(
        pair,
        image,
        point_coords=np.array([[40, 30]]),
        point_labels=np.array([1]),
        mask_input=previous,
        multimask_output=False,
    )
    assert_same_prediction("click + mask", ours, reference)
    ours, reference = predict_both(pair, image, mask_input=previous, multimask_output=False)
    assert_same_prediction("mask alone", ours, reference)


def test_normalized_coordinates_and_binary_masks():
    ours, meta = predictor_pair(SMALL_CASE)
    image = random_rgb(50, 70, seed=5)
    ours.set_image(image)
    meta.set_image(image)
    prompt = dict(point_coords=np.array([[0.25, 0.5]]), point_labels=np.array([1]), normalize_coords=False)
    masks, iou, _ = ours.predict(**prompt)
    ref_masks, ref_iou, _ = meta.predict(**prompt)
    assert masks.dtype == ref_masks.dtype == np.float32
    logits = ours.predict(return_logits=True, **prompt)[0]
    decided = np.abs(logits) > 1e-3
    assert np.array_equal(masks[decided], ref_masks[decided]) and masks.any()
    np.testing.assert_allclose(iou, ref_iou, atol=1e-3)


def test_image_batch():
    ours, meta = predictor_pair(SMALL_CASE)
    images = [random_rgb(64, 96, seed=6), random_rgb(80, 48, seed=7)]
    ours.set_image_batch(images)
    meta.set_image_batch(images)
    prompts = dict(
        point_coords_batch=[np.array([[10.0, 20.0]]), np.array([[30.0, 60.0]])],
        point_labels_batch=[np.array([1]), np.array([1])],
        box_batch=[np.array([0, 0, 50, 50]), np.array([10, 20, 40, 70])],
        return_logits=True,
    )
    results = ours.predict_batch(**prompts)
    references = meta.predict_batch(**prompts)
    for index in range(2):
        assert_same_prediction(f"image {index}", [r[index] for r in results], [r[index] for r in references])


def test_segmentation_result_and_errors():
    ours, _ = predictor_pair(SMALL_CASE)
    with pytest.raises(RuntimeError, match="set an image"):
        ours.predict(point_coords=np.array([[1, 1]]), point_labels=np.array([1]))
    ours.set_image(random_rgb(40, 40, seed=8))
    result = ours.segment(points=np.array([[20, 20]]), labels=np.array([1]))
    assert isinstance(result, Segmentation) and result.masks.dtype == bool
    assert np.array_equal(result.best, result.masks[np.argmax(result.iou_predictions)])
    with pytest.raises(ValueError, match="together"):
        ours.predict(point_coords=np.array([[1, 1]]))
    with pytest.raises(RuntimeError, match="set_image_batch"):
        ours.predict_batch()
