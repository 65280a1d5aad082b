"""The pinhole camera: pixels and depths to 3D points in the camera's optical frame, and back.

Optical frame (ROS REP 103): x to the right of the image, y down, z forward along the optical
axis, in metres. Pixel positions (u, v) follow sensor_msgs/CameraInfo and OpenCV: the centre of
the pixel in column i and row j is (i, j).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    """An undistorted pinhole camera of `width` x `height` pixels.

    fx, fy: focal lengths in pixels; cx, cy: the principal point in pixels (CameraInfo's K).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0 and math.isfinite(self.cx) and math.isfinite(self.cy)):
            raise ValueError(f"a pinhole camera needs positive focal lengths and a finite centre, got {self}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"a camera image needs at least one pixel, got {self.width}x{self.height}")

    @classmethod
    def from_field_of_view(cls, width: int, height: int, horizontal_fov_degrees: float) -> PinholeCamera:
        """Square pixels, the principal point at the centre of the image."""
        focal = width / (2.0 * math.tan(math.radians(horizontal_fov_degrees) / 2.0))
        return cls(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)

    def resized(self, width: int, height: int) -> PinholeCamera:
        """The same camera for its image scaled to `width` x `height` (pixel edges stay put)."""
        sx, sy = width / self.width, height / self.height
        cx, cy = (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5
        return PinholeCamera(self.fx * sx, self.fy * sy, cx, cy, width, height)

    def back_project(self, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(N, 3) float32 points of pixel positions (u, v) at depths z (each (N,), metres)."""
        z = np.asarray(z, dtype=np.float32)
        x = (np.asarray(u, dtype=np.float32) - self.cx) * z / self.fx
        y = (np.asarray(v, dtype=np.float32) - self.cy) * z / self.fy
        return np.stack([x, y, z], axis=-1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) pixel positions (u, v) of (N, 3) points in front of the camera (z > 0)."""
        points = np.asarray(points, dtype=np.float64)
        z = points[..., 2]
        return np.stack([self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], axis=-1)
