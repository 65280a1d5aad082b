"""The sam2_tracker node in its own process with the bundled model (float32), fed detections on a
real rclpy graph: a detection re-acquires a lost object and names its class on TrackedObject;
bad detections are counted in diagnostics and change no mask."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from lost_square import PATH, RETURN, iou, path_scene, returned_box  # noqa: E402

from sam2_ros.conversions import detection_array, mask_to_image, object_mask, rgb_to_image  # noqa: E402
from sam2_ros.msg import DetectionArray, Prompt  # noqa: E402
from sam2core.tracking import Detection  # noqa: E402

NAMESPACE = "/node_detections_test"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracker_node_detections")
    arguments = harness.node_arguments(
        "default", namespace=NAMESPACE, precision="float32", diagnostics_period="0.3",
        known_classes="box", new_objects_from="box",
        reacquire_distance="4.0", reprompt_mode="box",  # see test_detections.FAR
    )  # fmt: skip
    with harness.tracker_node(arguments, folder / "node.log", NAMESPACE) as client:
        client.detection_pub = client.node.create_publisher(DetectionArray, "detections", harness.RELIABLE)
        client.wait_connected(timeout=120)
        client.spin_until(lambda: client.detection_pub.get_subscription_count() > 0, "the detections subscription")
        yield client


class Stream:
    """Images of the lost-square scene with stamps that only grow through the module."""

    next_index = 0

    def run(self, client, detections_at: dict[int, list[Detection]]) -> list[np.ndarray]:
        """Reset, prompt the square's mask on the first image, send PATH's images (each after its
        detections have reached the node); the published mask of every image, (H, W) bool."""
        assert client.reset().success
        masks = []
        for step in range(len(PATH)):
            index, Stream.next_index = Stream.next_index, Stream.next_index + 1
            header = harness.header(index)
            image, mask = path_scene(step)
            if step in detections_at:
                self._send_detections(client, detection_array(header, detections_at[step]))
            array = client.track(rgb_to_image(image, header))
            if step == 0:
                response = client.add_prompt(
                    Prompt(header=header, object_id=1, mask=mask_to_image(mask.astype(np.uint8) * 255, header))
                )
                assert response.success, response.message
                array = response
            masks.append(array)
        return masks

    @staticmethod
    def _send_detections(client, msg: DetectionArray) -> None:
        """Publish `msg` and wait until diagnostics count it received, so that it is buffered
        before its image arrives."""
        before = received_arrays(client)
        client.detection_pub.publish(msg)
        client.spin_until(lambda: received_arrays(client) > before, "the node to receive the detections")


def received_arrays(client) -> int:
    values = client.diagnostic_values()
    return int(values[-1]["detection_arrays_received"]) if values else 0


def square(result, height: int = 96, width: int = 128):
    """The published object 1 of a TrackedObjectArray (or AddPrompt response) and its mask."""
    objects = [result.object] if hasattr(result, "object") else [obj for obj in result.objects if obj.object_id == 1]
    (obj,) = objects
    return obj, object_mask(obj, height, width) > 0


def test_a_detection_reacquires_a_lost_object(client):
    alone = Stream().run(client, {})
    helped = Stream().run(client, {RETURN: [Detection(returned_box(), "box", 0.9)]})
    assert iou(square(alone[RETURN])[1], PATH[RETURN]) < 0.5
    returned, mask = square(helped[RETURN])
    assert returned.visible and iou(mask, PATH[RETURN]) > 0.5
    assert returned.class_id == "box" and square(helped[-1])[0].class_id == "box"
    client.spin_until(lambda: int(client.diagnostic_values()[-1]["detections_reprompted"]) >= 1, "a re-prompt counted")


def test_bad_detections_are_counted_and_change_nothing(client):
    bad = [
        Detection((math.nan, 1, 5, 5), "box"),
        Detection((50, 50, 40, 60), "box"),
        Detection((500, 500, 600, 600), "box"),
        Detection((10, 10, 34, 34), "cat"),
    ]
    plain = Stream().run(client, {})
    client.spin_until(lambda: client.diagnostic_values(), "diagnostics")
    before = client.diagnostic_values()[-1]
    fed = Stream().run(client, {step: bad for step in range(len(PATH))} | {3: []})
    for without, with_bad in zip(plain, fed):
        assert np.array_equal(square(without)[1], square(with_bad)[1])
        assert [obj.object_id for obj in getattr(with_bad, "objects", [])] in ([], [1])
    rejected = len(bad) * (len(PATH) - 1)

    def counted() -> bool:
        values = client.diagnostic_values()[-1]
        return int(values["detections_rejected"]) - int(before["detections_rejected"]) == rejected

    client.spin_until(counted, "the rejected detections counted in diagnostics")
    after = client.diagnostic_values()[-1]
    for key in ("detections_matched", "detections_new_objects", "detections_accepted"):
        assert after[key] == before[key], key
    for key in ("detections_rejected_nonfinite", "detections_rejected_unknown_class"):
        assert int(after[key]) - int(before[key]) == len(PATH) - 1, key
