"""The node's diagnostics and its log line for a camera that sends nothing (no graph)."""

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus

from sam2_ros.diagnostics import NO_IMAGE_WARNING_AFTER, diagnostic_array, no_image_warning
from sam2_ros.frame_stats import Counts, StatsWindow


def test_no_image_warning_names_the_topic_after_a_few_seconds():
    assert no_image_warning("/robot/camera/image", NO_IMAGE_WARNING_AFTER - 0.5, since_start=True) is None
    warning = no_image_warning("/robot/camera/image", 12.0, since_start=True)
    assert warning.startswith("no image has arrived on /robot/camera/image for 12 s") and "remapping" in warning
    assert no_image_warning("/image", 7.0, since_start=False).startswith("no new image has arrived on /image")


def test_diagnostics_without_images_name_the_topic():
    stats = StatsWindow(1.0, Counts(), Counts(), [], 0)
    array = diagnostic_array(Time(), "sam2_tracker: tracking", stats, model="m", device="cpu", precision="float32",
                             worker_alive=True, image_topic="/robot/camera/image")  # fmt: skip
    (status,) = array.status
    assert (status.level, status.message) == (DiagnosticStatus.WARN, "no image received on /robot/camera/image")
