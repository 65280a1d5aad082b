"""A scene the bundled model loses an object in: a yellow square over dark gradients shows on
three images, leaves for four, and comes back elsewhere on image RETURN showing another face,
cyan (the bundled model finds it again by memory when it comes back yellow). Shared by the
library's and the node's detection tests."""

import numpy as np

HEIGHT, WIDTH, SIDE = 96, 128, 24
PATH = [(10, 10)] * 3 + [None] * 4 + [(90, 60)] * 2  # the square's top-left corner (x, y), or away
RETURN = 7
YELLOW, CYAN = (230, 200, 40), (40, 200, 230)


def square_scene(
    corner: tuple[int, int] | None, colour: tuple[int, int, int] = YELLOW
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image of the square at `corner` (None: no square) and its (H, W) mask."""
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[..., 2] = np.linspace(0, 80, WIDTH, dtype=np.uint8)[None]
    image[..., 1] = np.linspace(0, 60, HEIGHT, dtype=np.uint8)[:, None]
    mask = np.zeros((HEIGHT, WIDTH), bool)
    if corner is not None:
        x, y = corner
        image[y : y + SIDE, x : x + SIDE] = colour
        mask[y : y + SIDE, x : x + SIDE] = True
    return image, mask


def path_scene(index: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene's image `index` (of PATH) and the square's mask on it."""
    return square_scene(PATH[index], CYAN if index >= RETURN else YELLOW)


def returned_box() -> tuple[float, float, float, float]:
    """A detector's box of the square where it comes back, a pixel or so off."""
    x, y = PATH[RETURN]
    return (x - 1.0, y + 1.0, x + SIDE + 1.0, y + SIDE - 1.0)


def iou(predicted: np.ndarray, corner: tuple[int, int] | None) -> float:
    """IoU of an (H, W) bool mask with the square at `corner`."""
    truth = square_scene(corner)[1]
    return float((predicted & truth).sum() / max((predicted | truth).sum(), 1))
