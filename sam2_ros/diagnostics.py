"""The node's /diagnostics status, built from the worker's statistics."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from sam2_ros.frame_stats import StatsWindow

NO_IMAGE_WARNING_AFTER = 5.0  # seconds without an image before the node says so in its log


def no_image_warning(topic: str, silent_for: float, since_start: bool) -> str | None:
    """The log line for `silent_for` seconds without an image on `topic` (the resolved name), or
    None when it has not been long enough; `since_start`: no image has arrived at all."""
    if silent_for < NO_IMAGE_WARNING_AFTER:
        return None
    what = "no image has arrived" if since_start else "no new image has arrived"
    return (
        f"{what} on {topic} for {silent_for:.0f} s: is the camera publishing there? "
        "(check the topic's remapping, image_transport and the image_qos_reliability)"
    )


def diagnostic_array(
    stamp: Time,
    name: str,
    stats: StatsWindow,
    *,
    model: str,
    device: str,
    precision: str,
    worker_alive: bool,
    image_topic: str,
    precision_by_part: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> DiagnosticArray:
    """One DiagnosticStatus named `name` with rates, latencies, frame counts, objects, model, device and precision.

    precision: the tracker's ("float32", "bfloat16", ...); precision_by_part: what each part of the
    model computes in, runtime graphs included (StreamingTracker.precision_by_part), one value
    "precision: <part>" each.
    Counts are totals since activation; rate and latencies are over the window since the previous
    message. Level: ERROR when the inference thread has died, WARN when no image came in this
    window, images were rejected or failed in it or time jumped back in it, OK otherwise.
    `extra`: more values (the depth stage's counts).
    """
    window, total = stats.window, stats.total
    if not worker_alive:
        level, message = DiagnosticStatus.ERROR, "the inference thread has stopped"
    elif window.failed or window.rejected:
        level, message = DiagnosticStatus.WARN, f"{window.failed} images failed, {window.rejected} were rejected"
    elif window.received == 0:
        level, message = DiagnosticStatus.WARN, f"no image received on {image_topic}"
    elif window.time_jumps:
        level, message = DiagnosticStatus.WARN, "time jumped back: a new stream started, every object forgotten"
    else:
        level, message = DiagnosticStatus.OK, f"tracking {stats.object_count} objects at {stats.frame_rate:.1f} Hz"
    values = {
        "frame_rate_hz": f"{stats.frame_rate:.2f}",
        "latency_mean_ms": f"{1000 * stats.latency_mean:.1f}",
        "latency_p95_ms": f"{1000 * stats.latency_percentile(95):.1f}",
        "frames_received": str(total.received),
        "frames_processed": str(total.processed),
        "frames_dropped": str(total.dropped),
        "frames_rejected": str(total.rejected),
        "frames_failed": str(total.failed),
        "time_jumps_back": str(total.time_jumps),
        "objects": str(stats.object_count),
        "model": model,
        "device": device,
        "precision": precision,
        **{f"precision: {part}": value for part, value in (precision_by_part or {}).items()},
        **(extra or {}),
    }
    status = DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=device,
        values=[KeyValue(key=key, value=value) for key, value in values.items()],
    )
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
