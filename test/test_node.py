"""The sam2_tracker node in its own process, on a real rclpy graph: images and prompts in, one
TrackedObjectArray per image out, services, and bad input that must not stop the tracking."""

import itertools
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import HEIGHT, POINTER_LENGTH, WIDTH, click_prompt, image_msg  # noqa: E402

from sam2core.precision import choose_precision  # noqa: E402

INDICES = itertools.count()  # image indices, so stamps only grow through the module
NAMESPACE = "/node_test"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracker_node")
    checkpoint = harness.write_demo_checkpoint(folder / "demo.pt")
    arguments = harness.node_arguments(
        checkpoint, namespace=NAMESPACE, prompt_wait_timeout="1.0", diagnostics_period="0.3"
    )
    with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
        client.wait_connected(timeout=120)
        yield client


def track_next(client):
    return client.track(image_msg(next(INDICES)))


def start_tracking(client, object_ids) -> int:
    """Reset, track one image, prompt `object_ids` on it through the service; that image's index."""
    assert client.reset().success
    index = next(INDICES)
    client.track(image_msg(index))
    for object_id in object_ids:
        response = client.add_prompt(click_prompt(object_id, index, points=((10 + 8 * object_id, 20),)))
        assert response.success, response.message
    return index


def ids(array):
    return [obj.object_id for obj in array.objects]


def test_every_image_gets_an_array_with_its_header(client):
    assert client.reset().success
    for expected_index in range(2):
        msg = image_msg(next(INDICES))
        array = client.track(msg)
        assert (array.header, array.frame_index, array.objects) == (msg.header, expected_index, [])
    client.spin_until(lambda: harness.stamp_ns(msg.header) in client.overlays, "the overlay of the last image")
    overlay = client.overlays[harness.stamp_ns(msg.header)]
    assert (overlay.encoding, overlay.height, overlay.width, overlay.header) == ("rgb8", HEIGHT, WIDTH, msg.header)


def test_topic_prompts_add_objects_on_held_and_coming_images(client):
    assert client.reset().success
    held = next(INDICES)
    client.track(image_msg(held))
    client.prompt_pub.publish(click_prompt(1, held))
    coming = next(INDICES)
    client.prompt_pub.publish(click_prompt(2, coming, points=((40, 30),)))
    arrays = [client.track(image_msg(coming)), track_next(client)]
    assert ids(arrays[-1]) == [1, 2]
    for array in arrays:
        for obj in array.objects:
            assert obj.mask.header == array.header
            mask = obj.mask
            assert (mask.width, mask.height, mask.encoding, len(mask.data)) == (WIDTH, HEIGHT, "mono8", WIDTH * HEIGHT)
            assert set(mask.data) <= {0, 255} and obj.mask_area == sum(mask.data) // 255
            assert len(obj.object_pointer) == POINTER_LENGTH and all(map(math.isfinite, obj.object_pointer))
            assert 0.0 <= obj.visibility <= 1.0 and obj.visible == (obj.visibility > 0.5)


def test_add_prompt_service_answers_on_the_prompted_image(client):
    index = start_tracking(client, [1])
    response = client.add_prompt(click_prompt(2, None))  # zero stamp: the newest image
    assert response.success, response.message
    assert response.object.mask.header == image_msg(index).header
    assert (response.object.object_id, response.object.mask.width, response.object.mask.height) == (2, WIDTH, HEIGHT)
    assert len(response.object.object_pointer) == POINTER_LENGTH

    in_flight = next(INDICES)
    client.image_pub.publish(image_msg(in_flight))  # not waited for: the prompt waits for it
    response = client.add_prompt(click_prompt(3, in_flight))
    assert response.success and response.object.mask.header == image_msg(in_flight).header, response.message
    assert ids(client.track(image_msg(in_flight))) == [1, 2, 3]


def test_prompts_for_images_the_tracker_cannot_use_are_refused(client):
    start_tracking(client, [1])
    too_old = click_prompt(2, -1000)
    response = client.add_prompt(too_old)
    assert not response.success and "older than every image the tracker holds" in response.message
    never = click_prompt(2, next(INDICES) + 1000)
    response = client.add_prompt(never)  # waits prompt_wait_timeout (1 s) for an image that never comes
    assert not response.success and "was processed in time" in response.message
    assert ids(track_next(client)) == [1]


def test_objects_are_added_and_removed_mid_stream(client):
    start_tracking(client, [1])
    assert ids(track_next(client)) == [1]
    assert client.add_prompt(click_prompt(2, None, points=((50, 10),))).success
    assert ids(track_next(client)) == [1, 2]
    assert client.remove(1).success
    assert ids(track_next(client)) == [2]
    response = client.remove(1)
    assert not response.success and "unknown object id 1" in response.message
    box = dict(has_box=True, box_x0=5.0, box_y0=5.0, box_x1=30.0, box_y1=30.0)
    assert client.add_prompt(click_prompt(2, None, **box)).success  # corrects a known object
    assert ids(track_next(client)) == [2]


@pytest.mark.parametrize(
    "fields, reason",
    [
        (dict(points=((500, 10),)), "outside the 64x48 image"),
        (dict(points=((math.nan, 10),)), "finite"),
        (dict(points=(), labels=()), "empty prompt"),
        (dict(points=((5, 5),), labels=(1, 0)), "1 points but 2 labels"),
        (dict(points=(), labels=(), has_box=True, box_x0=100.0, box_y0=60.0, box_x1=120.0, box_y1=90.0), "outside"),
        (dict(labels=(7,)), "click labels must be LABEL_POSITIVE (1) or LABEL_NEGATIVE (0)"),
    ],
)
def test_bad_prompts_are_refused_and_tracking_goes_on(client, fields, reason):
    start_tracking(client, [1, 2])
    response = client.add_prompt(click_prompt(3, None, **fields))
    assert not response.success and reason in response.message, response.message
    client.prompt_pub.publish(click_prompt(1, None, **fields))  # the same on the topic: logged
    assert ids(track_next(client)) == [1, 2]


def rejected_images(client) -> int:
    return max((int(values["frames_rejected"]) for values in client.diagnostic_values()), default=0)


@pytest.mark.parametrize(
    "change",
    [
        dict(encoding="32FC1"),
        dict(step=3 * WIDTH - 1),
        dict(data=bytes(10)),
        dict(height=2 * HEIGHT, width=2 * WIDTH, step=6 * WIDTH, data=bytes(12 * HEIGHT * WIDTH)),  # size change
    ],
)
def test_bad_images_are_dropped_and_tracking_goes_on(client, change):
    start_tracking(client, [1, 2])
    before = rejected_images(client)
    bad = image_msg(next(INDICES))
    for name, value in change.items():
        setattr(bad, name, value)
    client.image_pub.publish(bad)
    client.spin_until(lambda: rejected_images(client) > before, "diagnostics counting the rejected image")
    array = track_next(client)
    assert ids(array) == [1, 2] and array.frame_index == 1
    assert harness.stamp_ns(bad.header) not in client.arrays


def test_reset_starts_a_new_stream(client):
    start_tracking(client, [1, 2])
    response = client.reset()
    assert response.success and response.message
    array = track_next(client)
    assert (array.frame_index, array.objects) == (0, [])


@pytest.mark.precision
def test_diagnostics_report_rates_and_counts(client):
    for _ in range(3):
        track_next(client)
    client.spin_until(lambda: any(int(values["frames_processed"]) >= 3 for values in client.diagnostic_values()),
                      "diagnostics that count the tracked images")  # fmt: skip
    values = client.diagnostic_values()[-1]
    assert (values["model"], values["device"]) == (harness.MODEL, "cpu")
    assert (
        values["precision"] == choose_precision("auto", torch.device("cpu")).name
    )  # the node's process sees the same flags
    assert values["precision: model"] == f"torch {values['precision']}"
    assert values["precision: memory bank"] == "bfloat16"
    received, processed, dropped = (
        int(values[key]) for key in ("frames_received", "frames_processed", "frames_dropped")
    )
    assert received >= processed + dropped  # every image received is processed, dropped, rejected or waiting
    windows = [window for window in client.diagnostic_values() if float(window["frame_rate_hz"]) > 0]
    assert windows, "no diagnostics window counted a processed image"
    assert all(float(window["latency_mean_ms"]) > 0 and float(window["latency_p95_ms"]) > 0 for window in windows)
