"""Depth of the synthetic scenes and what the synthetic camera publishes of it: layers at their
planned depths (the occluder in front), true positions, visibility causes, and depth images and
camera_info that agree with the scene."""

import numpy as np
import pytest
from std_msgs.msg import Header

from sam2_ros.demo.synthetic_camera import camera_depth, camera_sequences, ground_truth_array
from sam2_ros.depth import camera_from_info, depth_to_metres
from sam2_ros.depth_messages import camera_info, depth_image
from sam2_ros.msg import TrackedObject
from sam2core.data import BENCHMARK
from sam2core.data.depth import (
    BACKGROUND_DEPTH,
    DROPOUT,
    NEAREST_DEPTH,
    compose_depth,
    sensor_depth,
    synthetic_camera,
    visibility_causes,
)
from sam2core.locating import DepthSettings, measure


@pytest.fixture(scope="module")
def sequence():
    return camera_sequences(1, frames=BENCHMARK.num_frames)[0]  # seed 2**31: an occlusion and a leave


def test_nearer_layers_cover_farther_ones():
    back, front = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    back[:2], front[1:3] = True, True
    depth = compose_depth([back, front], np.array([3.0, 2.0], np.float32), (4, 4))
    np.testing.assert_array_equal(depth[:, 0], [3.0, 2.0, 2.0, BACKGROUND_DEPTH])


def test_targets_stand_at_their_depth_and_the_occluder_in_front(sequence):
    assert sequence.depth.min() >= NEAREST_DEPTH and sequence.depth.max() == BACKGROUND_DEPTH
    camera = synthetic_camera(BENCHMARK)
    occluded = next(interval for interval in sequence.hidden if interval.cause == "occluded")
    k = sequence.object_ids.index(occluded.object_id)
    before = occluded.start - 1
    target_depth = sequence.positions[before, k, 2]
    np.testing.assert_array_equal(sequence.depth[before][sequence.masks[before, k]], target_depth)
    # while hidden, what covers the target's unoccluded extent is nearer than the target
    covered = sequence.full_masks[occluded.start, k]
    assert covered.any() and (sequence.depth[occluded.start][covered] < target_depth).all()
    # the true position is the visible part's centroid at its depth
    v, u = np.nonzero(sequence.masks[before, k])
    expected = camera.back_project(u.mean(), v.mean(), target_depth)
    np.testing.assert_allclose(sequence.positions[before, k], expected, rtol=1e-5)
    assert np.isnan(sequence.positions[occluded.start, k]).all()


def test_visibility_causes_follow_the_hidden_intervals(sequence):
    causes = visibility_causes(sequence.visibility, sequence.hidden, sequence.object_ids)
    assert set(causes[sequence.visibility]) == {"visible"}
    for interval in sequence.hidden:
        k = sequence.object_ids.index(interval.object_id)
        assert set(causes[interval.start : interval.stop, k]) == {interval.cause}
    assert {"occluded", "out_of_view"} <= set(causes.ravel())


def test_sensor_depth_is_noisy_millimetres_with_dropouts():
    truth = np.full((200, 200), 2.0, np.float32)
    reading = sensor_depth(truth, np.random.default_rng(0))
    valid = reading > 0
    assert reading.dtype == np.uint16 and abs((~valid).mean() - DROPOUT) < 0.005
    assert abs(np.median(reading[valid]) - 2000) <= 1 and 3 < reading[valid].std() < 9  # 0.0015 * 2**2 m = 6 mm


def test_camera_depth_and_info_let_a_target_be_measured_where_the_truth_says(sequence):
    header = Header(frame_id="camera")
    camera = camera_from_info(camera_info(synthetic_camera(BENCHMARK), header), 256, 256)
    depth = depth_to_metres(depth_image(camera_depth(sequence, 0), header))
    truth = ground_truth_array(sequence, 0, header)
    for k, obj in enumerate(truth.objects):
        found = measure(sequence.masks[0, k], depth, camera, DepthSettings())
        true = np.array([obj.position.x, obj.position.y, obj.position.z])
        assert obj.visibility_reason == TrackedObject.REASON_VISIBLE
        assert abs(found.position[2] - true[2]) < 0.01 * true[2]
        assert np.linalg.norm(found.position - true) < 0.03 * true[2]
    hidden = ground_truth_array(sequence, sequence.hidden[0].start, header)
    k = sequence.object_ids.index(sequence.hidden[0].object_id)
    reasons = {"occluded": TrackedObject.REASON_OCCLUDED, "out_of_view": TrackedObject.REASON_OUT_OF_VIEW}
    assert hidden.objects[k].visibility_reason == reasons[sequence.hidden[0].cause]
