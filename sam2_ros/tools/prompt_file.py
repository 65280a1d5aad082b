"""Prompts for the bag runner from a YAML file.

    prompts:
      - object_id: 1
        frame: 0                     # the first image of the bag's image topic
        points: [[120, 80], [200, 95]]
        labels: [1, 0]               # 1 on the object, 0 not on it
      - object_id: 2
        stamp: 1700000000.033        # the header stamp of an image, in seconds
        box: [40, 60, 180, 200]      # x0, y0, x1, y1 pixels

Each prompt names its image by `frame` (index in the image topic) or by `stamp` (where it applies
as for the node: the first image whose stamp is not older).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import yaml

from sam2core.tracking import Prompt

_KEYS = {"object_id", "frame", "stamp", "points", "labels", "box"}


class _ExactLoader(yaml.SafeLoader):
    """Reads YAML floats as Decimal, so a stamp in seconds keeps every nanosecond."""


def _decimal(loader: _ExactLoader, node: yaml.ScalarNode) -> Decimal | float:
    try:
        return Decimal(loader.construct_scalar(node).replace("_", ""))
    except InvalidOperation:  # .inf, .nan: YAML spellings Decimal does not read
        return loader.construct_yaml_float(node)


_ExactLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


class PromptFileError(ValueError):
    """A prompt file that cannot be read; the text names the entry and the problem."""


@dataclass(frozen=True)
class ScheduledPrompt:
    """A prompt for `object_id` on the image `frame` (index) or stamped `stamp_ns`; one is None."""

    object_id: int
    prompt: Prompt
    frame: int | None = None
    stamp_ns: int | None = None


def read_prompt_file(path: str | Path) -> list[ScheduledPrompt]:
    """Every prompt of a YAML prompt file, checked for form (not yet against any image)."""
    try:
        content = yaml.load(Path(path).read_text(), Loader=_ExactLoader)
    except (OSError, yaml.YAMLError) as error:
        raise PromptFileError(f"cannot read prompt file {path}: {error}") from None
    entries = content.get("prompts") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        raise PromptFileError(f"prompt file {path} needs a top-level list 'prompts'")
    return [_entry(entry, f"{path}, prompt {number}") for number, entry in enumerate(entries, 1)]


def _entry(entry: object, where: str) -> ScheduledPrompt:
    if not isinstance(entry, dict):
        raise PromptFileError(f"{where}: expected a mapping, got {entry!r}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise PromptFileError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    if ("frame" in entry) == ("stamp" in entry):
        raise PromptFileError(f"{where}: give exactly one of 'frame' and 'stamp'")
    if not isinstance(entry.get("object_id"), int) or entry["object_id"] < 0:
        raise PromptFileError(f"{where}: object_id must be an integer >= 0")
    frame = entry.get("frame")
    if frame is not None and (not isinstance(frame, int) or frame < 0):
        raise PromptFileError(f"{where}: frame must be an integer >= 0, got {frame!r}")
    return ScheduledPrompt(
        object_id=entry["object_id"],
        prompt=_prompt(entry, where),
        frame=frame,
        stamp_ns=_stamp_ns(entry.get("stamp"), where),
    )


def _prompt(entry: dict, where: str) -> Prompt:
    try:
        points = None if "points" not in entry else np.asarray(entry["points"], dtype=np.float32).reshape(-1, 2)
        labels = None if "labels" not in entry else np.asarray(entry["labels"], dtype=np.int32).reshape(-1)
        box = None if "box" not in entry else tuple(float(value) for value in entry["box"])
    except (TypeError, ValueError) as error:
        raise PromptFileError(
            f"{where}: points are [x, y] pairs, labels integers, box four numbers ({error})"
        ) from None
    if box is not None and len(box) != 4:
        raise PromptFileError(f"{where}: box needs four numbers x0, y0, x1, y1, got {entry['box']!r}")
    return Prompt(points=points, labels=labels, box=box)


def _stamp_ns(stamp: object, where: str) -> int | None:
    """Seconds (e.g. 1700000000.033000001) as exact nanoseconds."""
    if stamp is None:
        return None
    try:
        return int(Decimal(str(stamp)) * 1_000_000_000)
    except InvalidOperation:
        raise PromptFileError(f"{where}: stamp must be seconds, got {stamp!r}") from None
