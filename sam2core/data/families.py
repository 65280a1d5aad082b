"""The scene families the benchmark runs on, each with its own held-out sequences.

"cutouts" is the family training draws from (its held-out split: other seeds, other
photographs); "geometric" is written independently and the bundled model never trained on it,
so a model that only learnt its training generator shows it there; a run may also train on
geometric's own training seeds (``--families cutouts geometric``), and "tabletop", which no run
trains on, then judges it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sam2core.data.geometric import (
    GEOMETRIC_BENCHMARK,
    GEOMETRIC_HELD_OUT,
    generate_geometric_sequence,
    geometric_training_clip,
)
from sam2core.data.sequence import SceneSequence
from sam2core.data.synthetic import BENCHMARK, HELD_OUT, generate_sequence, training_clip
from sam2core.data.tabletop import TABLETOP_BENCHMARK, TABLETOP_HELD_OUT, generate_tabletop_sequence


@dataclass(frozen=True)
class SceneFamily:
    """A generator of held-out benchmark sequences: ``generate(seed, num_frames)``, its seeds;
    ``training_clip(rng=Generator, config=SceneConfig)`` draws a training sequence of the config's
    size, length and event probabilities (None: the family is only ever held out)."""

    name: str
    description: str
    seeds: range
    generate: Callable[[int, int], SceneSequence]
    num_frames: int  # of a benchmark sequence
    training_clip: Callable[..., SceneSequence] | None = None

    def held_out(self, n: int, *, num_frames: int | None = None) -> Iterator[SceneSequence]:
        """Its first ``n`` held-out sequences (``num_frames`` long, default the benchmark's),
        always the same ones, generated lazily."""
        for seed in self.seeds[:n]:
            yield self.generate(seed, num_frames or self.num_frames)


FAMILIES: tuple[SceneFamily, ...] = (
    SceneFamily(
        name="cutouts",
        description="objects cut from photographs, smooth paths, panels and poles occluding (trained on, other seeds)",
        seeds=HELD_OUT.seeds,
        generate=lambda seed, frames: generate_sequence(seed=seed, config=replace(BENCHMARK, num_frames=frames)),
        num_frames=BENCHMARK.num_frames,
        training_clip=training_clip,
    ),
    SceneFamily(
        name="geometric",
        description="procedural figures bouncing, orbiting, stopping; pillar, hand or disc in front "
        "(trained on since the demo-mix runs, other seeds)",
        seeds=GEOMETRIC_HELD_OUT.seeds,
        generate=lambda seed, frames: generate_geometric_sequence(
            seed=seed, config=replace(GEOMETRIC_BENCHMARK, num_frames=frames)
        ),
        num_frames=GEOMETRIC_BENCHMARK.num_frames,
        training_clip=geometric_training_clip,
    ),
    SceneFamily(
        name="tabletop",
        description="a robot's view of a table: shaded solids and their twins pushed, carried, reached over; "
        "the camera turns and looks away (no run trains on it)",
        seeds=TABLETOP_HELD_OUT.seeds,
        generate=lambda seed, frames: generate_tabletop_sequence(
            seed=seed, config=replace(TABLETOP_BENCHMARK, num_frames=frames)
        ),
        num_frames=TABLETOP_BENCHMARK.num_frames,
    ),
)


def family(name: str) -> SceneFamily:
    """The family called ``name``."""
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise ValueError(f"unknown scene family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")
