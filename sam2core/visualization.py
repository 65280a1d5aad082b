"""Drawing tracked objects over images and writing the result as a playable video.

Images are (H, W, 3) uint8 RGB, masks (H, W) bool, boxes XYXY in pixels. No ROS imports: the
overlay topic of the node and the demo videos both use this module.
"""

from __future__ import annotations

import colorsys
import importlib.util
from collections.abc import Generator
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np

from sam2core.tracking.results import mask_geometry

Box = tuple[float, float, float, float]  # XYXY pixels
Backend = Literal["auto", "ffmpeg", "opencv"]
Colour = tuple[int, int, int]

# Twenty colours chosen to be told apart easily (Sasha Trubetskoy's list), RGB.
PALETTE: tuple[Colour, ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
)  # fmt: skip
GOLDEN_RATIO_CONJUGATE = 0.618033988749895
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45


def object_colour(object_id: int) -> Colour:
    """The RGB colour of ``object_id``: the same for every call, distinct for nearby ids.

    Ids 0-19 take :data:`PALETTE`; larger ids step the hue by the golden ratio.
    """
    if 0 <= object_id < len(PALETTE):
        return PALETTE[object_id]
    hue = (object_id * GOLDEN_RATIO_CONJUGATE) % 1.0
    value = 0.95 if object_id % 2 else 0.75
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def overlay(
    image: np.ndarray,
    *,
    masks: dict[int, np.ndarray],
    boxes: dict[int, Box] | None = None,
    labels: dict[int, str] | None = None,
    scores: dict[int, float] | None = None,
    alpha: float = 0.45,
    thickness: int = 2,
    captions: bool = True,
) -> np.ndarray:
    """Draw objects over a copy of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        masks: object id -> (H, W) bool mask, blended in the object's colour with its contour.
        boxes: object id -> XYXY box in pixels, drawn as a rectangle.
        labels: object id -> text shown instead of the id.
        scores: object id -> score appended to the text.
        alpha: opacity of the mask colour.
        thickness: line width of contours and boxes, in pixels.
        captions: write each object's label (or id) and score on a tag above it.

    Returns:
        (H, W, 3) uint8 RGB; pixels away from every mask, box and caption are unchanged.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    canvas = np.ascontiguousarray(image).copy()
    boxes = boxes or {}
    for object_id, mask in masks.items():
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask of object {object_id} is {mask.shape}, the image {image.shape[:2]}")
        colour = object_colour(object_id)
        _draw_mask(canvas, mask=mask.astype(bool, copy=False), colour=colour, alpha=alpha, thickness=thickness)
    for object_id, box in boxes.items():
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), object_colour(object_id), thickness, cv2.LINE_AA)
    for object_id in dict.fromkeys([*masks, *boxes]) if captions else ():
        anchor = _text_anchor(boxes.get(object_id), masks.get(object_id))
        if anchor is not None:
            text = _caption(object_id, label=(labels or {}).get(object_id), score=(scores or {}).get(object_id))
            _draw_caption(canvas, text=text, anchor=anchor, colour=object_colour(object_id))
    return canvas


def _draw_mask(canvas: np.ndarray, *, mask: np.ndarray, colour: Colour, alpha: float, thickness: int) -> None:
    """Blend ``colour`` into ``canvas`` where ``mask`` is set and outline it, working in its bounding box."""
    box = mask_geometry(mask).box
    if box is None:
        return
    x0, y0, x1, y1 = box[0], box[1], box[2] + 1, box[3] + 1  # exclusive ends, for slicing
    region, inside = canvas[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    tinted = cv2.addWeighted(region, 1.0 - alpha, np.full_like(region, colour), alpha, 0.0)
    np.copyto(region, tinted, where=inside[..., None])
    contours, _ = cv2.findContours(inside.view(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
    cv2.drawContours(canvas, contours, -1, colour, thickness, cv2.LINE_AA)


def _text_anchor(box: Box | None, mask: np.ndarray | None) -> tuple[int, int] | None:
    """Top-left corner of the object's box, or of its mask's bounding box; None if it has neither."""
    if box is not None:
        return int(round(box[0])), int(round(box[1]))
    mask_box = mask_geometry(mask).box if mask is not None else None
    return None if mask_box is None else mask_box[:2]


def _caption(object_id: int, *, label: str | None, score: float | None) -> str:
    """``label`` (or the id) and, if given, the score with two decimals."""
    text = label if label is not None else str(object_id)
    return text if score is None else f"{text} {score:.2f}"


def _draw_caption(canvas: np.ndarray, *, text: str, anchor: tuple[int, int], colour: Colour) -> None:
    """Write ``text`` on a filled tag of ``colour`` just above ``anchor``, kept inside the image."""
    (text_width, text_height), baseline = cv2.getTextSize(text, FONT, FONT_SCALE, 1)
    tag_height = text_height + baseline + 4
    x = int(np.clip(anchor[0], 0, max(canvas.shape[1] - text_width - 4, 0)))
    y = int(np.clip(anchor[1] - tag_height, 0, max(canvas.shape[0] - tag_height, 0)))
    cv2.rectangle(canvas, (x, y), (x + text_width + 4, y + tag_height), colour, cv2.FILLED)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 2, y + text_height + 2), FONT, FONT_SCALE, ink, 1, cv2.LINE_AA)


class VideoWriter:
    """Writes (H, W, 3) uint8 RGB frames to an .mp4 a person can play.

    H.264 through imageio-ffmpeg's bundled ffmpeg when that is installed (``backend="auto"`` or
    ``"ffmpeg"``), else MPEG-4 part 2 (``mp4v``) through OpenCV. The frame size is fixed by the
    first frame. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path, *, fps: float = 10.0, backend: Backend = "auto") -> None:
        self.path = Path(path)
        self.fps = fps
        self.backend = _resolve_backend(backend)
        self.frame_size: tuple[int, int] | None = None  # (H, W)
        self._ffmpeg: Generator[None, np.ndarray | None, None] | None = None
        self._opencv: cv2.VideoWriter | None = None
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
        if self._closed:
            raise ValueError(f"{self.path} is closed")
        if self.frame_size is None:
            self._open(height=frame.shape[0], width=frame.shape[1])
        elif frame.shape[:2] != self.frame_size:
            raise ValueError(f"frame is {frame.shape[:2]}, the video {self.frame_size}")
        if self._ffmpeg is not None:
            self._ffmpeg.send(np.ascontiguousarray(frame))
        else:
            self._opencv.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file; writing afterwards is an error."""
        self._closed = True
        if self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
        if self._opencv is not None:
            self._opencv.release()
            self._opencv = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _open(self, *, height: int, width: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frame_size = (height, width)
        if self.backend == "ffmpeg":
            import imageio_ffmpeg

            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(self.path),
                (width, height),
                fps=self.fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                macro_block_size=2,
                ffmpeg_log_level="error",
            )
            self._ffmpeg.send(None)  # starts the encoder
        else:
            self._opencv = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self._opencv.isOpened():
                raise OSError(f"OpenCV cannot write {self.path}")


def _resolve_backend(backend: Backend) -> Literal["ffmpeg", "opencv"]:
    """The backend to use: ``auto`` picks ffmpeg when imageio-ffmpeg is installed."""
    if backend != "auto":
        return backend
    return "ffmpeg" if importlib.util.find_spec("imageio_ffmpeg") is not None else "opencv"
