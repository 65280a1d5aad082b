"""The node's segment and segment_everything services on a real rclpy graph (node in its own
process): candidate masks on held images without touching the tracked objects, automatic masks
that can be tracked, and bad requests answered success false with the reason."""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import HEIGHT, WIDTH, click_prompt, image_msg  # noqa: E402

from sam2_ros.srv import Segment, SegmentEverything  # noqa: E402
from sam2core import AutomaticMaskGenerator, build_model  # noqa: E402
from sam2core.build import BUNDLED_CHECKPOINTS  # noqa: E402

INDICES = itertools.count()
NAMESPACE = "/segment_test"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segment_node")
    # The bundled demonstration model: it knows bright squares on dark backgrounds. float32: the
    # automatic masks are compared with this process's, the same on every CPU.
    arguments = harness.node_arguments(BUNDLED_CHECKPOINTS[harness.MODEL], namespace=NAMESPACE, precision="float32")
    with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
        client.wait_connected(timeout=120)
        client.spin_until(lambda: client.everything_client.service_is_ready(), "segment services")
        yield client


def mask_pixels(image) -> np.ndarray:
    return np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width)


def square_iou(image, index: int) -> float:
    """IoU of a mono8 mask with the bright square of harness.scene(index)."""
    square = (harness.scene(index) == (230, 200, 40)).all(axis=2)
    mask = mask_pixels(image) > 0
    return (mask & square).sum() / (mask | square).sum()


def test_segment_answers_on_the_stamped_image_and_tracks_nothing(client):
    assert client.reset().success
    held = next(INDICES)
    client.track(image_msg(held))
    client.track(image_msg(next(INDICES)))  # a newer image: the request names the older one
    request = Segment.Request(prompt=click_prompt(0, held, points=((16, 20),)))
    response = client.segment(request)
    assert response.success, response.message
    assert response.header == harness.header(held)
    assert len(response.masks) == 3 and len(response.boxes) == 12
    assert list(response.scores) == sorted(response.scores, reverse=True)
    for image in response.masks:
        assert (image.height, image.width, image.encoding) == (HEIGHT, WIDTH, "mono8")
        assert set(np.unique(mask_pixels(image))) <= {0, 255}
    assert max(square_iou(image, held) for image in response.masks) > 0.5  # clicked on it
    single = client.segment(Segment.Request(prompt=click_prompt(0, None), multimask_output=False))
    assert single.success and len(single.masks) == 1
    assert single.header == harness.header(held + 1)  # zero stamp: the newest image
    assert client.track(image_msg(next(INDICES))).objects == []


@pytest.mark.parametrize(
    "prompt, reason",
    [
        (click_prompt(0, 0), "older than every image"),
        (click_prompt(0, 10_000), "processed yet"),
        (click_prompt(0, None, points=((500, 20),)), "outside"),
        (click_prompt(0, None, points=(), labels=()), "empty prompt"),
    ],
)
def test_bad_segment_requests_fail_with_a_reason(client, prompt, reason):
    assert client.reset().success
    client.track(image_msg(next(INDICES)))
    client.track(image_msg(next(INDICES)))
    response = client.segment(Segment.Request(prompt=prompt))
    assert not response.success and reason in response.message, response.message


EVERYTHING = dict(points_per_side=4, pred_iou_thresh=0.05, stability_score_thresh=0.05)


def automatic_masks(index: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) bool masks and (N,) scores of harness.scene(index) by the bundled model's
    AutomaticMaskGenerator in this process (float32), best score first."""
    generator = AutomaticMaskGenerator(build_model(harness.MODEL, checkpoint="default"), **EVERYTHING)
    with torch.no_grad():
        candidates = generator.generate_candidates(harness.scene(index))
    candidates = candidates.select(torch.argsort(candidates.iou, descending=True, stable=True))
    return candidates.masks().reshape(-1, HEIGHT, WIDTH), candidates.iou.float().numpy()


def test_segment_everything_and_track_the_masks(client):
    """The stamped image's automatic masks, as the library gives them, best first; then one of
    them tracked."""
    assert client.reset().success
    index = next(INDICES)
    client.track(image_msg(index))
    client.track(image_msg(next(INDICES)))  # a newer image: the request names the older one
    request = SegmentEverything.Request(header=harness.header(index), max_masks=3, **EVERYTHING)
    response = client.segment_everything(request)
    assert response.success, response.message
    expected, scores = automatic_masks(index)
    assert len(response.masks) == min(3, len(expected)) >= 1 and list(response.object_ids) == []
    assert len(response.scores) == len(response.stability_scores) == len(response.masks)
    assert len(response.boxes) == 4 * len(response.masks)
    np.testing.assert_allclose(response.scores, scores[: len(response.masks)], atol=1e-4)
    for image, mask in zip(response.masks, expected):
        got = mask_pixels(image) > 0
        assert (got & mask).sum() / (got | mask).sum() > 0.98
    assert client.track(image_msg(next(INDICES))).objects == []
    request.track, request.track_indices = True, [0]
    tracked = client.segment_everything(request)
    assert tracked.success and list(tracked.object_ids) == [0], tracked.message
    array = client.track(image_msg(next(INDICES)))
    assert [obj.object_id for obj in array.objects] == [0]


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"points_per_side": 0}, "points_per_side"),
        ({"points_per_side": 1000}, "points_per_side"),
        ({"pred_iou_thresh": 0.0}, "pred_iou_thresh"),
        ({"stability_score_thresh": 0.0}, "stability_score_thresh"),
        ({"track": True, "track_indices": [99]}, "track_indices"),
    ],
)
def test_bad_segment_everything_requests_fail_with_a_reason(client, fields, reason):
    client.track(image_msg(next(INDICES)))
    response = client.segment_everything(SegmentEverything.Request(**{**EVERYTHING, **fields}))
    assert not response.success and reason in response.message, response.message
