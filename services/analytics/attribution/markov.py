"""The data-driven model: a first-order Markov chain over every journey, and each state's
removal effect.

Each journey is a path of states (channels, or segments, or variants) from a start state to
one of two absorbing states: conversion, or null (the journey ended without a sale). The
transition probabilities are counted over all the campaign's journeys, converting and not.
A state's removal effect is the share of the probability of converting that is lost when the
state is removed (every transition into it goes to null instead); the effects, normalised
to sum to 1, are the states' shares of the conversions and of the revenue.

Implemented here with numpy rather than taken from the ``ChannelAttribution`` package: that
package is GPL-3.0-or-later, which the Apache-2.0 license of this project cannot take in;
it ships only as a source distribution that needs a C++ toolchain and Cython to build, and
it brings pandas. The model itself is one linear solve per state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

type Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Path:
    """A journey's states in order, and how many sales and non-sales ended it."""

    states: Sequence[str]
    conversions: int = 0
    nulls: int = 0


def removal_effect_shares(paths: Iterable[Path]) -> dict[str, float]:
    """Each state's normalised removal effect; empty when nothing converted."""
    journeys = [p for p in paths if p.states and (p.conversions or p.nulls)]
    states = sorted({state for path in journeys for state in path.states})
    if not states:
        return {}
    transitions = _transition_matrix(journeys, states)
    base = _conversion_probability(transitions)
    if base <= 0:
        return {}
    effects = {
        state: max(1 - _conversion_probability(_removed(transitions, i + 1)) / base, 0.0)
        for i, state in enumerate(states)
    }
    whole = sum(effects.values())
    return {state: effect / whole for state, effect in effects.items()} if whole > 0 else {}


# Row and column layout: 0 start, 1..n the states, n+1 conversion, n+2 null.
def _transition_matrix(journeys: Sequence[Path], states: Sequence[str]) -> Matrix:
    index = {state: i + 1 for i, state in enumerate(states)}
    size = len(states) + 3
    conversion, null = size - 2, size - 1
    counts = np.zeros((size, size))
    for path in journeys:
        visits = [0, *(index[state] for state in path.states)]
        for here, there in pairwise(visits):
            counts[here, there] += path.conversions + path.nulls
        counts[visits[-1], conversion] += path.conversions
        counts[visits[-1], null] += path.nulls
    totals = counts.sum(axis=1, keepdims=True)
    transitions: Matrix = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return transitions


def _removed(transitions: Matrix, state: int) -> Matrix:
    """The chain with ``state`` removed: whatever went into it goes to null."""
    changed = transitions.copy()
    changed[:, -1] += changed[:, state]
    changed[:, state] = 0.0
    return changed


def _conversion_probability(transitions: Matrix) -> float:
    """The probability of being absorbed in conversion from the start state."""
    transient = transitions.shape[0] - 2
    between = transitions[:transient, :transient]
    into_conversion = transitions[:transient, transient]
    system = np.eye(transient) - between
    try:
        absorbed = np.linalg.solve(system, into_conversion)
    except np.linalg.LinAlgError:
        absorbed = np.linalg.lstsq(system, into_conversion, rcond=None)[0]
    return float(absorbed[0])
