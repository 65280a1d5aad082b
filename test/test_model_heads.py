"""The SAM heads (prompt encoder + mask decoder + object pointer) against Meta's
`_forward_sam_heads` and `_use_mask_as_output`, with identical random weights."""

import copy

import oracle
import pytest
import torch

from sam2core.point_labels import box_corner_points

CASES = oracle.PARITY_CASES
PROMPTS = [
    "click",
    "clicks",
    "box",
    "box_and_click",
    "mask",
    "clicks_and_mask",
    "nothing_multimask",
    "nothing_single",
]


def make_prompt(kind: str, image_size: int) -> dict:
    """decode_masks keyword arguments for a batch of 2 objects, in model-input pixels."""
    clicks = image_size * torch.tensor([[[0.3, 0.4], [0.6, 0.55], [0.5, 0.8]], [[0.7, 0.2], [0.1, 0.9], [0.4, 0.4]]])
    click_labels = torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=torch.int32)
    boxes = image_size * torch.tensor([[0.2, 0.25, 0.7, 0.8], [0.5, 0.1, 0.95, 0.6]])
    low_res = image_size // 4
    generator = torch.Generator().manual_seed(1)
    mask = 8 * torch.randn(2, 1, low_res // 8, low_res // 8, generator=generator)
    mask = torch.nn.functional.interpolate(mask, size=(low_res, low_res), mode="bilinear")
    one_click = dict(points=clicks[:, :1], labels=click_labels[:, :1])
    three_clicks = dict(points=clicks, labels=click_labels)
    prompts = {
        "click": dict(**one_click, multimask=True),
        "clicks": dict(**three_clicks, multimask=False),
        "box": dict(boxes=boxes, multimask=False),
        "box_and_click": dict(boxes=boxes, **one_click, multimask=False),
        "mask": dict(mask_input=mask, multimask=False),
        "clicks_and_mask": dict(**three_clicks, mask_input=mask, multimask=False),
        "nothing_multimask": dict(multimask=True),
        "nothing_single": dict(multimask=False),
    }
    return prompts[kind]


def decode_masks_arguments(prompt: dict) -> dict:
    """`make_prompt`'s boxes as corner points before the clicks, as decode_masks takes them."""
    arguments = {name: value for name, value in prompt.items() if name != "boxes"}
    points, labels = box_corner_points(prompt.get("points"), prompt.get("labels"), prompt.get("boxes"))
    return arguments | {"points": points, "labels": labels}


def reference_point_inputs(prompt: dict) -> dict | None:
    """Meta's point_inputs: box corners (labels 2, 3) first, then the clicks."""
    coords, labels = [], []
    if "boxes" in prompt:
        coords.append(prompt["boxes"].reshape(-1, 2, 2))
        labels.append(torch.tensor([[2, 3]], dtype=torch.int32).expand(len(prompt["boxes"]), -1))
    if "points" in prompt:
        coords.append(prompt["points"])
        labels.append(prompt["labels"])
    if not coords:
        return None
    return {"point_coords": torch.cat(coords, dim=1), "point_labels": torch.cat(labels, dim=1)}


def reference_unconditioned_pixels(reference, frames: oracle.EncodedFrames) -> torch.Tensor:
    """Meta's features of an initial conditioning frame (no memory)."""
    features = frames.reference
    return reference._prepare_memory_conditioned_features(
        frame_idx=0,
        is_init_cond_frame=True,
        current_vision_feats=features["current_vision_feats"][-1:],
        current_vision_pos_embeds=features["current_vision_pos_embeds"][-1:],
        feat_sizes=features["feat_sizes"][-1:],
        output_dict={"cond_frame_outputs": {}, "non_cond_frame_outputs": {}},
        num_frames=1,
    )


def assert_outputs_match(label: str, ours, reference_outputs: tuple) -> None:
    """Our DecoderOutput against the 7-tuple of Meta's SAM heads."""
    low_multi, _, ious, low_res, high_res, pointer, score = reference_outputs
    oracle.assert_masks_match(f"{label} low-res multimasks", ours.low_res_multimasks, low_multi)
    oracle.assert_masks_match(f"{label} low-res mask", ours.low_res_masks, low_res)
    oracle.assert_masks_match(f"{label} high-res mask", ours.high_res_masks, high_res)
    oracle.assert_close(f"{label} iou", ours.multimask_iou, ious)
    oracle.assert_close(f"{label} object pointer", ours.object_pointer, pointer)
    oracle.assert_close(f"{label} object score", ours.object_score_logits, score)


def first_image_twice(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> the first image's (2, C, H, W), as two objects on one frame."""
    return features[0:1].expand(2, -1, -1, -1)


def run_heads(pair_options: dict, case: tuple, kind: str):
    """(our DecoderOutput, Meta's outputs) for one prompt kind on two encoded frames."""
    ours, reference = oracle.model_pair(*case, **pair_options)
    frames = oracle.encoded_frames(*case, **pair_options)
    return decode_both(ours, reference, frames, make_prompt(kind, case[1]))


def decode_both(ours, reference, frames: oracle.EncodedFrames, prompt: dict):
    """Both models' SAM heads on the frames' features conditioned on no memory."""
    with torch.no_grad():
        pixels = ours.condition_on_memory(frames.ours)
        reference_pixels = reference_unconditioned_pixels(reference, frames)
        oracle.assert_close("pixel features", pixels, reference_pixels)
        ours_out = ours.decode_masks(frames.ours, pixel_features=pixels, **decode_masks_arguments(prompt))
        reference_out = reference._forward_sam_heads(
            backbone_features=reference_pixels,
            point_inputs=reference_point_inputs(prompt),
            mask_inputs=prompt.get("mask_input"),
            high_res_features=frames.reference["high_res_features"],
            multimask_output=prompt["multimask"],
        )
    return ours_out, reference_out


@pytest.mark.parametrize("kind", PROMPTS)
@pytest.mark.parametrize("case", CASES, ids=oracle.case_id)
def test_decode_masks_matches_reference(case, kind):
    ours_out, reference_out = run_heads({}, case, kind)
    assert (reference_out[-1] > 0).all(), "the trap: objects must be present for real masks"
    assert_outputs_match(f"{case} {kind}", ours_out, reference_out)


@pytest.mark.parametrize("kind", PROMPTS)
def test_decode_masks_with_released_postprocessing_and_absent_objects(kind):
    """Dynamic multimask fallback on, object-score bias near zero: some objects absent."""
    options = oracle.RELEASED_SETTINGS
    ours_out, reference_out = run_heads(options, CASES[0], kind)
    assert_outputs_match(f"released {kind}", ours_out, reference_out)


def test_absent_objects_and_unstable_masks_are_compared():
    """The settings above yield both present and absent objects, and single masks unstable
    enough for the multimask fallback to change them."""
    options = oracle.RELEASED_SETTINGS
    outputs = {kind: run_heads(options, CASES[0], kind)[0] for kind in PROMPTS}
    scores = torch.cat([output.object_score_logits for output in outputs.values()])
    assert (scores > 0).any() and (scores <= 0).any(), scores.flatten()
    without_fallback, _ = oracle.model_pair(*CASES[0], object_score_bias=None)
    frames = oracle.encoded_frames(*CASES[0], **options)  # the same weights but the flags
    with torch.no_grad():
        single = without_fallback.decode_masks(frames.ours, **make_prompt("clicks", CASES[0][1]))
    assert not torch.equal(single.low_res_masks, outputs["clicks"].low_res_masks)


@pytest.mark.parametrize("case", CASES, ids=oracle.case_id)
def test_decode_from_mask_matches_reference(case):
    ours, reference = oracle.model_pair(*case)
    frames = oracle.encoded_frames(*case)
    size = case[1]
    grid = torch.arange(size, dtype=torch.float32)
    disc = ((grid[None] - 0.4 * size) ** 2 + (grid[:, None] - 0.5 * size) ** 2) < (0.2 * size) ** 2
    masks = torch.stack([disc, torch.zeros_like(disc)])[:, None]  # object 2 is absent
    with torch.no_grad():
        ours_out = ours.decode_from_mask(frames.ours, masks)
        reference_out = reference._use_mask_as_output(
            frames.reference["vision_features"], frames.reference["high_res_features"], masks
        )
    assert_outputs_match(f"{case} mask as output", ours_out, reference_out)


def test_expanded_features_decode_like_a_batch():
    """Two objects on one frame through `ImageFeatures.expand` equal the reference on a batch."""
    case = CASES[0]
    ours, reference = oracle.model_pair(*case)
    frames = oracle.encoded_frames(*case)
    prompt = make_prompt("clicks", case[1])
    with torch.no_grad():
        ours_out = ours.decode_masks(frames.ours.index([0]).expand(2), **prompt)
        reference_out = reference._forward_sam_heads(
            backbone_features=first_image_twice(frames.reference["vision_features"]),
            point_inputs=reference_point_inputs(prompt),
            high_res_features=[first_image_twice(x) for x in frames.reference["high_res_features"]],
            multimask_output=False,
        )
    assert_outputs_match("expanded features", ours_out, reference_out)


def test_a_perturbed_weight_fails_parity():
    """The parity checks can fail: with one weight of ours moved by 0.5 (a channel of the
    positive-click embedding), the comparison with the reference goes red."""
    case = CASES[0]
    ours, reference = oracle.model_pair(*case)
    perturbed = copy.deepcopy(ours)
    with torch.no_grad():
        perturbed.sam_prompt_encoder.point_embeddings[1].weight[0, 0] += 0.5
    frames = oracle.encoded_frames(*case)
    ours_out, reference_out = decode_both(perturbed, reference, frames, make_prompt("clicks", 512))
    with pytest.raises(AssertionError, match="max abs diff"):
        assert_outputs_match("perturbed", ours_out, reference_out)
