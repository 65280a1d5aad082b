"""demo.mp4: each camera image with what the node answered for it, and a panel of text beside it.

The picture is the camera image at twice its size with the tracked masks, boxes and ids in each
object's colour (faded when the node dropped the image and its last result stands in), the true
contours in white and, on a sequence's first image, the prompts in magenta. The panel says where
in the run the image is, its latency (or that it was dropped), and each object's state and IoU
with the truth, in orange where they disagree.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sam2_ros.demo.demo_report import Box, ClipScore, FrameView
from sam2core.data import SceneSequence
from sam2core.evaluation import region_similarity
from sam2core.evaluation.benchmark import PromptKind, first_frame_prompts
from sam2core.tracking import Prompt
from sam2core.visualization import FONT, FONT_SCALE, Colour, VideoWriter, object_colour, overlay

SCALE = 2  # the video shows the 256 px camera images at twice their size
PANEL_WIDTH = 208
MARGIN = 12
LINE_HEIGHT = 22
TRUTH_COLOUR = (255, 255, 255)
TEXT_COLOUR = (235, 235, 235)
LEGEND_COLOUR = (160, 160, 160)
PROMPT_COLOUR = (255, 0, 255)
WARNING_COLOUR = (255, 160, 40)


def write_video(path: Path, scores: list[ClipScore], *, prompt: PromptKind, fps: float) -> int:
    """Draw every published frame into an mp4 at `fps`; the number of frames written."""
    written = 0
    with VideoWriter(path, fps=fps) as writer:
        for number, score in enumerate(scores):
            sequence = score.clip.sequence
            prompts = first_frame_prompts(sequence, kind=prompt)
            for index, view in enumerate(score.views):
                picture = draw_frame(sequence, index, view, prompts if index == 0 else {})
                panel = side_panel(sequence, index, view, f"sequence {number + 1}/{len(scores)}", prompt)
                writer.write(np.concatenate([picture, panel], axis=1))
                written += 1
    return written


def draw_frame(sequence: SceneSequence, index: int, view: FrameView, prompts: dict[int, Prompt]) -> np.ndarray:
    """The camera image at SCALE with the tracked masks, boxes and ids filled in each object's
    colour (faded for a dropped frame's stale result), the true contours in white and `prompts`."""
    image = cv2.resize(sequence.frames[index], None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    shown = {object_id: seen for object_id, seen in view.objects.items() if seen.visible}
    picture = overlay(
        image,
        masks={object_id: _scaled_mask(seen.mask) for object_id, seen in shown.items()},
        boxes={object_id: _scaled_box(seen.box) for object_id, seen in shown.items() if seen.box is not None},
        scores={object_id: seen.visibility for object_id, seen in shown.items()},
        alpha=0.45 if view.source_frame == index else 0.2,
    )
    for mask in sequence.masks[index]:
        contours, _ = cv2.findContours(_scaled_mask(mask).view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(picture, contours, -1, TRUTH_COLOUR, 1, cv2.LINE_AA)
    for prompt in prompts.values():
        _draw_prompt(picture, prompt)
    return picture


def _draw_prompt(picture: np.ndarray, prompt: Prompt) -> None:
    """The prompt's box or clicks in PROMPT_COLOUR (a mask prompt is the white contour already)."""
    if prompt.box is not None:
        x0, y0, x1, y1 = (int(round(value * SCALE)) for value in prompt.box)
        cv2.rectangle(picture, (x0, y0), (x1, y1), PROMPT_COLOUR, 2, cv2.LINE_AA)
    for x, y in prompt.points if prompt.points is not None else ():
        cv2.drawMarker(picture, (int(x * SCALE), int(y * SCALE)), PROMPT_COLOUR, cv2.MARKER_CROSS, 14, 2, cv2.LINE_AA)


def side_panel(sequence: SceneSequence, index: int, view: FrameView, title: str, prompt: PromptKind) -> np.ndarray:
    """The text beside the picture: where in the run, the latency (or the drop, or the prompt),
    each object's state and IoU with the truth, and the legend."""
    panel = np.full((sequence.frames.shape[1] * SCALE, PANEL_WIDTH, 3), 28, np.uint8)
    lines = _Lines(panel)
    lines.write(title)
    lines.write(f"frame {index + 1}/{len(sequence.frames)}")
    if index == 0:
        lines.write(f"prompted: true {prompt}", PROMPT_COLOUR)
    elif view.latency is None:
        lines.write("dropped by the node:", WARNING_COLOUR)
        lines.write(f"result of frame {view.source_frame + 1}", WARNING_COLOUR)
    else:
        lines.write(f"latency {view.latency * 1000:.0f} ms")
    lines.skip()
    for object_id, truth, truly_visible in zip(sequence.object_ids, sequence.masks[index], sequence.visibility[index]):
        seen = view.objects.get(object_id)
        lines.write(f"object {object_id}", swatch=object_colour(object_id))
        if seen is None:
            lines.write("  not tracked", WARNING_COLOUR)
            continue
        lines.write(f"  {'visible' if seen.visible else 'hidden'}  {seen.visibility:.2f}")
        lines.write(f"  IoU {float(region_similarity(seen.mask, truth)):.2f}")
        if seen.visible != truly_visible:
            lines.write(f"  truth: {'visible' if truly_visible else 'hidden'}", WARNING_COLOUR)
    lines.bottom(["white: ground truth", *(["magenta: prompt"] if index == 0 else [])], LEGEND_COLOUR)
    return panel


class _Lines:
    """Writes lines of text down a panel."""

    def __init__(self, panel: np.ndarray):
        self.panel, self.y = panel, LINE_HEIGHT

    def write(self, text: str, colour: Colour = TEXT_COLOUR, *, swatch: Colour | None = None) -> None:
        x = MARGIN
        if swatch is not None:
            cv2.rectangle(self.panel, (x, self.y - 11), (x + 11, self.y), swatch, cv2.FILLED)
            x += 17
        cv2.putText(self.panel, text, (x, self.y), FONT, FONT_SCALE, colour, 1, cv2.LINE_AA)
        self.y += LINE_HEIGHT

    def skip(self) -> None:
        self.y += LINE_HEIGHT // 2

    def bottom(self, texts: list[str], colour: Colour) -> None:
        """Write `texts` as the panel's last lines."""
        self.y = self.panel.shape[0] - LINE_HEIGHT * len(texts) + LINE_HEIGHT // 2
        for text in texts:
            self.write(text, colour)


def _scaled_mask(mask: np.ndarray) -> np.ndarray:
    """An (H, W) bool mask at SCALE, with smooth edges."""
    return cv2.resize(mask.astype(np.float32), None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR) > 0.5


def _scaled_box(box: Box) -> Box:
    x0, y0, x1, y1 = box
    return x0 * SCALE, y0 * SCALE, (x1 + 1) * SCALE - 1, (y1 + 1) * SCALE - 1
