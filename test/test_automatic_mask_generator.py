"""AutomaticMaskGenerator against Meta's SAM2AutomaticMaskGenerator on shared weights: the same
masks in the same order with the same boxes, areas, scores, clicks and crops; crops, hole and
speck filling, the mask-to-mask refinement and every output mode included. And the mask
utilities on hand-made cases."""

import functools
import warnings

import connected_components_standin
import cv2
import numpy as np
import oracle
import pytest
import torch
import torchvision_standin

from sam2core import AutomaticMaskGenerator, build_model
from sam2core.masks import (
    coco_rle,
    decode_coco_counts,
    encode_coco_counts,
    image_crops,
    mask_to_rle,
    masks_to_boxes,
    non_max_suppression,
    rle_area,
    rle_to_mask,
)

torchvision_standin.install()
generator_module = pytest.importorskip("sam2.automatic_mask_generator")
connected_components_standin.install()

MODEL = ("sam2.1_hiera_t", 256)
# Random weights give mask logits of +-0.3 that hardly depend on the click; scaling the last
# layer of the mask hypernetworks and thresholding high gives varied, partly empty masks.
HYPERNETWORK_SCALE = 60.0
MASK_THRESHOLD = 10.0


@functools.lru_cache(maxsize=None)
def model_pair():
    """(ours, Meta's) SAM 2.1 tiny at 256 px with the same scaled random weights."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        reference = oracle.build_reference(*MODEL)
    state = oracle.shared_state_dict(reference)
    for key in state:
        if key.startswith("sam_mask_decoder.output_hypernetworks_mlps") and key.endswith("layers.2.weight"):
            state[key] = state[key] * HYPERNETWORK_SCALE
    reference.load_state_dict(state)
    ours = oracle.build_ours(*MODEL)
    ours.load_state_dict(state)
    return ours, reference


def shapes_image() -> np.ndarray:
    """(96, 128, 3) uint8: three coloured shapes on a dark background."""
    image = np.full((96, 128, 3), 20, np.uint8)
    cv2.rectangle(image, (5, 5), (50, 40), (200, 40, 40), -1)
    cv2.circle(image, (90, 60), 25, (40, 200, 60), -1)
    cv2.rectangle(image, (20, 60), (60, 90), (230, 230, 50), -1)
    return image


def generate_both(**options):
    ours_model, reference_model = model_pair()
    options = {"mask_threshold": MASK_THRESHOLD, **options}
    meta = generator_module.SAM2AutomaticMaskGenerator(reference_model, **options)
    size = MODEL[1]
    meta.predictor._bb_feat_sizes = [(size // 4,) * 2, (size // 8,) * 2, (size // 16,) * 2]
    image = shapes_image()
    return AutomaticMaskGenerator(ours_model, **options).generate(image), meta.generate(image)


def assert_same_annotations(ours: list[dict], reference: list[dict], min_masks: int = 5) -> None:
    print(f"[parity] {len(ours)} masks, Meta {len(reference)}")
    assert len(ours) == len(reference) and len(ours) >= min_masks
    for index, (found, expected) in enumerate(zip(ours, reference)):
        for key in ("area", "bbox", "point_coords", "crop_box"):
            assert found[key] == expected[key], f"mask {index} {key}: {found[key]} != {expected[key]}"
        for key in ("predicted_iou", "stability_score"):
            np.testing.assert_allclose(found[key], expected[key], atol=1e-3, err_msg=f"{index} {key}")
        segmentation, expected_segmentation = found["segmentation"], expected["segmentation"]
        if isinstance(segmentation, np.ndarray):
            assert np.array_equal(segmentation, expected_segmentation), f"mask {index} differs"
        else:
            assert segmentation == expected_segmentation, f"mask {index} differs"


def test_crops_and_filled_holes_and_specks_as_binary_masks():
    ours, reference = generate_both(
        points_per_side=6,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        crop_n_layers=1,
        min_mask_region_area=20,
    )
    assert_same_annotations(ours, reference)
    assert len({tuple(a["crop_box"]) for a in ours}) > 1  # masks from several crops survive


def test_thresholds_as_rle():
    ours, reference = generate_both(
        points_per_side=6,
        pred_iou_thresh=0.425,
        stability_score_thresh=0.2,
        crop_n_layers=1,
        stability_score_offset=1.0,
        min_mask_region_area=20,
        output_mode="uncompressed_rle",
    )
    assert_same_annotations(ours, reference, min_masks=3)


def test_mask_refinement_as_coco_rle():
    """Refined by their own masks, single masks cover the image: one survives NMS. Meta's
    coco_rle mode needs pycocotools; ours writes the same strings itself."""
    ours, reference = generate_both(
        points_per_side=6,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        use_m2m=True,
        multimask_output=False,
        output_mode="coco_rle",
    )
    assert_same_annotations(ours, reference, min_masks=1)


def test_coco_strings_equal_pycocotools():
    coco_mask = pytest.importorskip("pycocotools.mask")
    generator = torch.Generator().manual_seed(0)
    masks = torch.rand(4, 37, 53, generator=generator) > torch.linspace(0.1, 0.9, 4)[:, None, None]
    masks[3] = False
    for mask, rle in zip(masks, mask_to_rle(masks)):
        expected = coco_mask.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))
        assert coco_rle(rle)["counts"] == expected["counts"].decode()
        assert decode_coco_counts(coco_rle(rle)["counts"]) == rle["counts"]


def test_rle_round_trip_and_coco_strings():
    masks = torch.zeros(3, 5, 4, dtype=torch.bool)
    masks[0, 1:3, 1] = True  # column 1, rows 1..2
    masks[1] = True
    rles = mask_to_rle(masks)
    assert rles[0] == {"size": [5, 4], "counts": [6, 2, 12]}
    assert rles[1]["counts"] == [0, 20] and rles[2]["counts"] == [20]
    assert [rle_area(rle) for rle in rles] == [2, 20, 0]
    for rle, mask in zip(rles, masks):
        assert np.array_equal(rle_to_mask(rle), mask.numpy())
    counts = [3, 100000, 2, 7, 1, 0, 40]
    assert decode_coco_counts(encode_coco_counts(counts)) == counts
    assert encode_coco_counts([6, 2, 12]) == "62<"  # pycocotools' string for the first mask


def test_boxes_and_non_max_suppression():
    masks = torch.zeros(2, 6, 8, dtype=torch.bool)
    masks[0, 2:4, 3:7] = True
    assert masks_to_boxes(masks).tolist() == [[3, 2, 6, 3], [0, 0, 0, 0]]
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.5, 0.9, 0.1, 0.9])
    # 1 (0.9) first, 3 ties with it and comes after it in input order: IoU 0.81 > 0.7 drops it
    assert non_max_suppression(boxes, scores, 0.7).tolist() == [1, 2]
    assert non_max_suppression(boxes, scores, 0.9).tolist() == [1, 3, 2]  # 0 equals 3


def test_crops_cover_the_image_with_overlap():
    crops = image_crops((100, 200), 1, 0.25)
    assert [c.box for c in crops] == [
        (0, 0, 200, 100),
        (0, 0, 113, 63),
        (0, 38, 113, 100),
        (88, 0, 200, 63),
        (88, 38, 200, 100),
    ]
    assert [c.layer for c in crops] == [0, 1, 1, 1, 1]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"points_per_side": 0}, "points_per_side"),
        ({"points_per_side": 10_000}, "points_per_side"),
        ({"pred_iou_thresh": 1.5}, "pred_iou_thresh"),
        ({"output_mode": "png"}, "output_mode"),
        ({"points_per_side": None}, "exactly one"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        AutomaticMaskGenerator(model_pair()[0], **options)


def test_no_mask_kept_says_which_thresholds_to_lower():
    model = build_model("sam2.1_hiera_demo", checkpoint="default")
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = 200
    with pytest.warns(UserWarning, match=r"pred_iou_thresh=1.0 or stability_score_thresh=0.95.*e\.g\. 0\.8"):
        assert AutomaticMaskGenerator(model, points_per_side=2, pred_iou_thresh=1.0).generate(image) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AutomaticMaskGenerator(model, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0).generate(
            image
        )
