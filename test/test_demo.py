"""The demo (scripts/demo.sh's command) end to end: the tracker node and the synthetic camera in
their own processes, one short sequence, then the video and the summary it writes."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import ros_graph  # noqa: F401  (this test run's ROS domain, discovery kept on this machine)
from std_msgs.msg import Header

from sam2_ros.conversions import mono8_mask, prompt_from_msg, prompt_to_msg
from sam2_ros.demo.demo_video import PANEL_WIDTH, SCALE
from sam2_ros.demo.synthetic_camera import camera_sequences, ground_truth_array
from sam2core.evaluation import PROMPT_KINDS, first_frame_baseline
from sam2core.evaluation.benchmark import first_frame_prompts, score_sequence

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 12
ACCURACY = ("jf", "j", "f", "visibility_accuracy")


def run_demo(out: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sam2_ros.demo.demo", "--out", str(out), *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=150, cwd=ROOT)


def video_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def test_ground_truth_carries_every_target_with_its_true_mask():
    sequence = camera_sequences(1, frames=4)[0]
    header = Header(frame_id="camera")
    header.stamp.sec = 7
    array = ground_truth_array(sequence, 2, header)
    assert (array.header, array.frame_index) == (header, 2)
    assert [obj.object_id for obj in array.objects] == list(sequence.object_ids)
    for obj, mask, visible in zip(array.objects, sequence.masks[2], sequence.visibility[2]):
        assert np.array_equal(mono8_mask(obj.mask), mask)
        assert (obj.visible, obj.mask_area) == (visible, mask.sum())
        assert obj.visibility == pytest.approx(float(visible), abs=1e-8)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_prompt_messages_read_back_as_the_benchmark_prompts(kind):
    sequence = camera_sequences(1, frames=2)[0]
    for object_id, prompt in first_frame_prompts(sequence, kind=kind).items():
        back = prompt_from_msg(prompt_to_msg(object_id, prompt, Header()))
        for field in ("points", "labels", "box", "mask"):
            expected, got = getattr(prompt, field), getattr(back, field)
            assert (expected is None) == (got is None), field
            if expected is not None:
                assert np.array_equal(np.asarray(expected), np.asarray(got)), field


@pytest.mark.slow
def test_demo_writes_a_scored_summary_and_a_video_of_every_frame(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, "--sequences", "1", "--frames", str(FRAMES), "--rate", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "J&F" in result.stdout

    summary = json.loads((out / "summary.json").read_text())
    overall, sequences = summary["overall"], summary["sequences"]
    assert len(sequences) == 1 and sequences[0]["objects"] >= 1
    # Results are matched to published frames by stamp. The node may drop the frame that comes
    # while it answers the prompt (which costs more), and the last frame is always answered. At 3
    # images/s it has 333 ms per image: two runs of this command on two CPU cores shared with six
    # other test runs answered 12 of 12, latency 66 / 60 ms mean, 84 / 75 ms p95.
    for figures in (overall, sequences[0]):
        assert figures["frames_published"] == FRAMES
        assert FRAMES - 1 <= figures["frames_processed"] <= FRAMES
        assert 0 < figures["latency_mean_ms"] <= figures["latency_p95_ms"]
    assert summary["unmatched_results"] == 0 and summary["prompt_failures"] == []
    # The demo scored the sequence the camera played: its still baseline is the benchmark's.
    [played] = camera_sequences(1, FRAMES)
    still = score_sequence(first_frame_baseline(played), played)
    assert summary["still_baseline"]["jf"] == pytest.approx(still.jf) == sequences[0]["still_jf"]
    assert {name: overall[name] for name in ACCURACY} == {name: sequences[0][name] for name in ACCURACY}
    assert 0 < overall["tracker_fps"] and summary["runtime_s"] > 0
    depth = summary["depth"]  # the node runs with the camera's depth; the weak model's masks decide the error
    assert depth["reason_object_frames"] > 0 and 0.0 <= depth["reason_accuracy"] <= 1.0
    assert depth["measured_visible"] > 0 and depth["depth_error_median_pct"] >= 0.0
    assert "visibility reasons right on" in result.stdout

    frames = video_frames(out / "demo.mp4")
    assert len(frames) == summary["video_frames"] == FRAMES
    assert frames[0].shape == (256 * SCALE, 256 * SCALE + PANEL_WIDTH, 3)
    assert (out / "logs" / "tracker.log").is_file() and (out / "logs" / "camera.log").is_file()


@pytest.mark.slow
def test_demo_fails_with_the_node_log_when_the_node_cannot_start(tmp_path):
    result = run_demo(tmp_path / "demo", "--frames", "2", "--checkpoint", str(tmp_path / "missing.pt"))
    assert result.returncode == 1
    assert "the tracker node exited with code 1" in result.stderr
    assert "missing.pt" in result.stderr
    assert not (tmp_path / "demo" / "summary.json").exists()


@pytest.mark.slow
def test_demo_runs_without_and_with_the_simulated_detector(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, "--sequences", "1", "--frames", "9", "--rate", "3", "--detector", "both",
                      "--detector-settings", "every=2,miss_rate=0,false_positives=0")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    helped = summary["with_detector"]
    assert (summary["detector"], helped["detector"]) == (None, "every=2,miss_rate=0,false_positives=0")
    assert helped["overall"]["frames_published"] == summary["overall"]["frames_published"] == 9
    assert "without the detector" in result.stdout and "with it" in result.stdout
    # images 0, 2, 4, 6, 8 carry a box per visible target; the node paired each array with its image
    counts = helped["node_detection_counts"]
    assert counts["detection_arrays_received"] == 5 and counts["detections_received"] > 0
    assert counts["detections_rejected"] == 0
    assert len(video_frames(out / "with_detector" / "demo.mp4")) == 9
