"""The benchmark's sections, one module each, in the order the summary shows them.

Each module's ``SECTION`` measures its part of the run and renders it (see
``bench.section.Section``); ``bench.run`` measures them, ``bench.report`` writes them.
"""

from __future__ import annotations

from bench.section import Results, Section
from bench.sections import (
    chain,
    cold_start,
    console,
    floor,
    profile,
    projection,
    scale,
    statistics,
    tools,
)
from bench.stats import Target

SECTIONS: tuple[Section, ...] = (
    chain.SECTION,
    tools.SECTION,
    floor.SECTION,
    scale.SECTION,
    statistics.SECTION,
    projection.SECTION,
    cold_start.SECTION,
    profile.SECTION,
    console.SECTION,
)


def evaluate_targets(results: Results) -> list[Target]:
    """Every section's targets, read from the result document (a missing figure is not met)."""
    return [target for section in SECTIONS for target in section.targets(results)]
