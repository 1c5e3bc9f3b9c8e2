"""Plotly figures as the JSON the page hands to ``Plotly.react``.

plotly ships no type hints; this module is the one place that calls it, and what leaves it
is plain JSON. Amounts stay decimal strings: plotly.js reads numeric strings as numbers, so
no amount becomes a float on the way to the chart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

import plotly.graph_objects as go  # type: ignore[import-untyped]  # plotly has no stubs
import plotly.io as pio  # type: ignore[import-untyped]
import plotly.offline  # type: ignore[import-untyped]

type FigureJson = dict[str, Any]
type Values = Sequence[str | int | float | None]

# A small template of our own: plotly's named ones add some 7 kB to every figure sent.
_AXIS = {"gridcolor": "#e4e7eb", "zerolinecolor": "#9aa5b1", "automargin": True}
_LAYOUT: dict[str, Any] = {
    "template": {"layout": {"plot_bgcolor": "white", "xaxis": _AXIS, "yaxis": _AXIS}},
    "margin": {"l": 48, "r": 16, "t": 36, "b": 40},
    "height": 300,
    "legend": {"orientation": "h", "y": -0.2},
}


def plotly_js() -> str:
    """plotly.js itself, from the installed package: the page never reaches a CDN."""
    return cast(str, plotly.offline.get_plotlyjs())


def bars(title: str, x: Sequence[str], series: Mapping[str, Values], **yaxis: Any) -> FigureJson:
    """Grouped bars: one trace per series, sharing the categories ``x``."""
    traces = [go.Bar(name=name, x=list(x), y=list(ys)) for name, ys in series.items()]
    return _figure(traces, title, barmode="group", yaxis=yaxis)


def pie(title: str, labels: Sequence[str], values: Values) -> FigureJson:
    return _figure([go.Pie(labels=list(labels), values=list(values), hole=0.4)], title)


def lines(
    title: str,
    series: Mapping[str, tuple[Sequence[str | int], Values]],
    *,
    shape: str = "linear",
    **layout: Any,
) -> FigureJson:
    """One line per series, each with its own x (cycles or times); ``shape="hv"`` draws a
    value that holds until the next one."""
    traces = [
        go.Scatter(name=name, x=list(x), y=list(y), mode="lines+markers", line_shape=shape)
        for name, (x, y) in series.items()
    ]
    return _figure(traces, title, **layout)


def intervals(
    title: str,
    labels: Sequence[str],
    means: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
) -> FigureJson:
    """Points with asymmetric error bars: an estimate and its credible interval."""
    trace = go.Scatter(
        x=list(labels),
        y=list(means),
        mode="markers",
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [high - mean for mean, high in zip(means, highs, strict=True)],
            "arrayminus": [mean - low for mean, low in zip(means, lows, strict=True)],
        },
    )
    return _figure([trace], title, yaxis={"tickformat": ".0%", "zeroline": True})


def _figure(traces: list[Any], title: str, **layout: Any) -> FigureJson:
    figure = go.Figure(data=traces, layout=_LAYOUT | {"title": {"text": title}} | layout)
    return cast(FigureJson, json.loads(pio.to_json(figure, validate=False)))
