"""The offline bag runner: a small MCAP bag written with rosbags, tracked, and read back."""

import sys
from pathlib import Path

import pytest
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from sensor_msgs.msg import Image

from sam2_ros.conversions import objects_in_labels
from sam2_ros.msg import TrackedObjectArray
from sam2_ros.tools import bag_runner
from sam2_ros.tools.prompt_file import PromptFileError, read_prompt_file

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import tracker_harness as harness  # noqa: E402
from tracker_harness import HEIGHT, POINTER_LENGTH, WIDTH, click_prompt, image_msg  # noqa: E402

IMAGES = 6
RECEIVED_NS = 5_000_000_000  # receive time of the first image in the bag


def write_bag(path: Path) -> list[Image]:
    """Images on /camera/image_raw; prompts on /prompts: object 2 for image 3 (recorded before that
    image arrives) and a malformed one."""
    images = [image_msg(index) for index in range(IMAGES)]
    malformed = click_prompt(5, 1, points=((float("nan"), 3.0),))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        typestore = bag_runner.sam2_typestore()
        camera = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=typestore)
        prompts = writer.add_connection("/prompts", "sam2_ros/msg/Prompt", typestore=typestore)
        for index, image in enumerate(images):
            writer.write(camera, RECEIVED_NS + index * harness.FRAME_NS, serialize_message(image))
            if index == 1:
                for offset, prompt in enumerate([click_prompt(2, 3, points=((40, 20),)), malformed], 1):
                    writer.write(prompts, RECEIVED_NS + index * harness.FRAME_NS + offset, serialize_message(prompt))
    return images


PROMPT_FILE = f"""
prompts:
  - object_id: 1
    frame: 0
    points: [[20, 20], [50, 40]]
    labels: [1, 0]
  - object_id: 3
    stamp: {harness.FIRST_STAMP_NS // 10**9}.{4 * harness.FRAME_NS:09d}
    box: [5, 5, 30, 40]
  - object_id: 4
    frame: 99
    points: [[1, 1]]
    labels: [1]
"""


def read_topic(path: Path, topic: str, message_type) -> list:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [deserialize_message(raw, message_type) for _, _, raw in reader.messages(connections=connections)]


def test_runner_tracks_every_image_with_bag_and_file_prompts(tmp_path, capsys):
    images = write_bag(tmp_path / "in")
    (tmp_path / "prompts.yaml").write_text(PROMPT_FILE)
    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    code = bag_runner.main([
        "--bag", str(tmp_path / "in"), "--image-topic", "/camera/image_raw",
        "--prompts", str(tmp_path / "prompts.yaml"), "--out", str(tmp_path / "out"), "--overlay-topic", "/overlay",
        "--model", harness.MODEL, "--checkpoint", str(checkpoint), "--device", "cpu",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "6 images, 6 tracked, 3 prompts applied, 2 problems" in captured.out
    assert "prompt for object 5 rejected" in captured.err and "for frame 99 not applied" in captured.err

    arrays = read_topic(tmp_path / "out", "/tracked_objects", TrackedObjectArray)
    assert [array.header for array in arrays] == [image.header for image in images]
    assert [array.frame_index for array in arrays] == list(range(IMAGES))
    assert [[obj.object_id for obj in array.objects] for array in arrays] == [[1]] * 3 + [[1, 2], [1, 2, 3], [1, 2, 3]]
    for obj in arrays[-1].objects:
        assert (obj.mask.width, obj.mask.height, len(obj.object_pointer)) == (WIDTH, HEIGHT, POINTER_LENGTH)
    overlays = read_topic(tmp_path / "out", "/overlay", Image)
    assert [overlay.header for overlay in overlays] == [image.header for image in images]


def test_runner_honours_mask_mode_and_writes_labels_as_the_node_publishes_them(tmp_path, capsys):
    images = write_bag(tmp_path / "in")
    (tmp_path / "prompts.yaml").write_text(PROMPT_FILE)
    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    code = bag_runner.main([
        "--bag", str(tmp_path / "in"), "--image-topic", "/camera/image_raw",
        "--prompts", str(tmp_path / "prompts.yaml"),
        "--out", str(tmp_path / "out"), "--mask-mode", "none", "--labels-topic", "/labels",
        "--model", harness.MODEL, "--checkpoint", str(checkpoint), "--device", "cpu",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    arrays = read_topic(tmp_path / "out", "/tracked_objects", TrackedObjectArray)
    labels = read_topic(tmp_path / "out", "/labels", Image)
    assert [msg.header for msg in labels] == [image.header for image in images]
    for array, label in zip(arrays, labels):
        assert (array.image_width, array.image_height) == (label.width, label.height) == (WIDTH, HEIGHT)
        assert all((obj.mask.width, obj.mask.height) == (0, 0) for obj in array.objects)  # mask_mode none
        found = objects_in_labels(label)
        assert set(found) <= {obj.object_id for obj in array.objects if obj.visible}
        for obj in array.objects:  # overlaps go to one object: at most its mask's pixels are labelled with it
            labelled = int(found[obj.object_id].sum()) if obj.object_id in found else 0
            assert labelled <= obj.mask_area
        assert bool(found) == any(obj.visible and obj.mask_area > 0 for obj in array.objects)


def test_a_bag_played_twice_in_a_row_starts_a_new_stream_where_time_jumps_back(tmp_path, capsys):
    images = [image_msg(index) for index in range(IMAGES)]
    with Writer(tmp_path / "in", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        camera = writer.add_connection(
            "/camera/image_raw", "sensor_msgs/msg/Image", typestore=bag_runner.sam2_typestore()
        )
        for index, image in enumerate(images + images):  # the recording looped once: its stamps repeat
            writer.write(camera, RECEIVED_NS + index * harness.FRAME_NS, serialize_message(image))
    (tmp_path / "prompts.yaml").write_text("prompts:\n  - {object_id: 1, frame: 0, points: [[20, 20]], labels: [1]}\n")
    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    code = bag_runner.main([
        "--bag", str(tmp_path / "in"), "--image-topic", "/camera/image_raw",
        "--prompts", str(tmp_path / "prompts.yaml"),
        "--out", str(tmp_path / "out"), "--model", harness.MODEL, "--checkpoint", str(checkpoint), "--device", "cpu",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"image {IMAGES}: time jumped back {(IMAGES - 1) * harness.FRAME_NS / 1e9:.3f} s" in captured.err
    arrays = read_topic(tmp_path / "out", "/tracked_objects", TrackedObjectArray)
    assert [array.frame_index for array in arrays] == list(range(IMAGES)) * 2  # the second pass: a new stream
    assert [len(array.objects) for array in arrays] == [1] * IMAGES + [0] * IMAGES  # its objects forgotten


def test_runner_reports_a_missing_topic_and_a_bad_checkpoint(tmp_path, capsys):
    write_bag(tmp_path / "in")
    checkpoint = harness.write_demo_checkpoint(tmp_path / "demo.pt")
    common = ["--bag", str(tmp_path / "in"), "--model", harness.MODEL, "--device", "cpu"]
    missing_topic = ["--image-topic", "/nope", "--out", str(tmp_path / "o1"), "--checkpoint", str(checkpoint)]
    assert bag_runner.main([*common, *missing_topic]) == 1
    assert "no image topic '/nope'" in capsys.readouterr().err and not (tmp_path / "o1").exists()
    assert bag_runner.main([*common, "--image-topic", "/camera/image_raw", "--out", str(tmp_path / "o2"),
                            "--checkpoint", str(tmp_path / "missing.pt")]) == 1  # fmt: skip
    assert "missing.pt does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("prompts: 3", "top-level list 'prompts'"),
        ("prompts: [{object_id: 1, points: [[1, 2]], labels: [1]}]", "exactly one of 'frame' and 'stamp'"),
        ("prompts: [{object_id: 1, frame: 0, stamp: 1.5, box: [1, 2, 3, 4]}]", "exactly one of 'frame' and 'stamp'"),
        ("prompts: [{object_id: 1, frame: 0, clicks: [[1, 2]]}]", "unknown keys ['clicks']"),
        ("prompts: [{object_id: -2, frame: 0}]", "object_id must be an integer >= 0"),
        ("prompts: [{object_id: 1, frame: 0, box: [1, 2, 3]}]", "box needs four numbers"),
        ("prompts: [{object_id: 1, stamp: soon, box: [1, 2, 3, 4]}]", "stamp must be seconds"),
    ],
)
def test_prompt_file_errors_name_the_entry(tmp_path, content, message):
    path = tmp_path / "prompts.yaml"
    path.write_text(content)
    with pytest.raises(PromptFileError, match=message.replace("[", r"\[").replace("]", r"\]")) as error:
        read_prompt_file(path)
    assert "prompts.yaml" in str(error.value)


def test_prompt_file_stamps_are_exact_nanoseconds(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("prompts: [{object_id: 1, stamp: 1700000000.033000001, points: [[1, 2]], labels: [1]}]")
    (entry,) = read_prompt_file(path)
    assert (entry.stamp_ns, entry.frame) == (1_700_000_000_033_000_001, None)
    assert entry.prompt.points.tolist() == [[1.0, 2.0]] and entry.prompt.labels.tolist() == [1]
