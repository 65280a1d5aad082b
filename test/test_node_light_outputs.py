"""The tracker node (bundled model, its own process) with cropped masks and the labels image: what
a consumer decodes from either is the same object, at the image's size."""

import sys
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402

from sam2_ros.conversions import object_mask, objects_in_labels  # noqa: E402

NAMESPACE = "/light_outputs_test"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("light_outputs")
    arguments = harness.node_arguments("default", namespace=NAMESPACE, mask_mode="cropped", publish_labels="true")
    with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
        client.labels, client.log = {}, folder / "node.log"
        client.node.create_subscription(
            Image, "labels", lambda msg: client.labels.setdefault(harness.stamp_ns(msg.header), msg), harness.RELIABLE
        )
        client.wait_connected(timeout=120)
        yield client


def test_cropped_masks_and_labels_decode_to_the_same_objects(client):
    client.track(harness.image_msg(0))
    for object_id, point in ((1, (18, 20)), (2, (50, 40))):
        response = client.add_prompt(harness.click_prompt(object_id, 0, points=(point,)))
        assert response.success, response.message
        assert (response.object.mask.width, response.object.mask.height) == (harness.WIDTH, harness.HEIGHT)
    for index in range(1, 4):
        msg = harness.image_msg(index)
        array = client.track(msg)
        stamp = harness.stamp_ns(msg.header)
        client.spin_until(lambda stamp=stamp: stamp in client.labels, f"the labels of image {index}")
        labels = client.labels[stamp]
        assert (labels.header, labels.encoding) == (msg.header, "mono8")
        assert (array.image_height, array.image_width) == (labels.height, labels.width) == (harness.HEIGHT,
                                                                                            harness.WIDTH)  # fmt: skip
        labelled = objects_in_labels(labels)
        assert [obj.object_id for obj in array.objects] == [1, 2]
        assert any(obj.mask_area > 0 for obj in array.objects)
        for obj in array.objects:
            assert (obj.mask.width, obj.mask.height) == (obj.box.width, obj.box.height)
            assert len(obj.mask.data) == obj.box.width * obj.box.height < harness.WIDTH * harness.HEIGHT
            full = object_mask(obj, array.image_height, array.image_width) > 0
            assert full.sum() == obj.mask_area
            in_labels = labelled.get(obj.object_id, np.zeros_like(full))
            assert not (in_labels & ~full).any()  # an object's labels lie inside its own mask
        masks_union = np.zeros((harness.HEIGHT, harness.WIDTH), bool)
        labels_union = masks_union.copy()
        for obj in array.objects:
            masks_union |= object_mask(obj, harness.HEIGHT, harness.WIDTH) > 0
        for mask in labelled.values():
            labels_union |= mask
        np.testing.assert_array_equal(labels_union, masks_union)  # overlaps go to one object, nothing is lost


def test_an_id_too_large_for_labels_leaves_the_other_outputs_alone(client):
    assert client.reset().success
    client.track(harness.image_msg(10))
    response = client.add_prompt(harness.click_prompt(70000, 10, points=((18, 20),)))
    assert response.success, response.message
    array = client.track(harness.image_msg(11))
    assert [obj.object_id for obj in array.objects] == [70000]
    client.spin_until(lambda: "labels not published: object id 70000" in client.log.read_text(), "the warning")
    assert "tracking failed" not in client.log.read_text()
