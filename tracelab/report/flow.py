"""A three-column flow (Sankey-style) diagram drawn with plain matplotlib patches.

Columns: workload label → phase → device. Node heights and band widths are proportional to
tokens; bands are cubic Bézier ribbons. Ordering is sorted by name, so the drawing is
deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

NODE_WIDTH = 0.06
GAP = 0.03
PHASE_COLORS = {"prefill": "#6baed6", "decode": "#fd8d3c", "cache-hit": "#bab0ac"}  # vertical gap between nodes, as a share of the column's total height


def _layout(totals: dict[str, float], whole: float) -> dict[str, tuple[float, float]]:
    """Bottom and height (in data units, total height 1) of each node in one column."""
    names = sorted(totals)
    free = 1.0 - GAP * max(len(names) - 1, 0)
    y = 1.0
    out = {}
    for name in names:
        height = free * totals[name] / whole if whole else 0.0
        y -= height
        out[name] = (y, height)
        y -= GAP
    return out


def _ribbon(ax: Any, x0: float, y0: tuple[float, float], x1: float, y1: tuple[float, float],
            color: str) -> None:
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    mid = (x0 + x1) / 2
    (a_lo, a_hi), (b_lo, b_hi) = y0, y1
    vertices = [
        (x0, a_hi), (mid, a_hi), (mid, b_hi), (x1, b_hi),
        (x1, b_lo), (mid, b_lo), (mid, a_lo), (x0, a_lo), (x0, a_hi),
    ]
    codes = [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4,
             Path.LINETO, Path.CURVE4, Path.CURVE4, Path.CURVE4, Path.CLOSEPOLY]
    ax.add_patch(PathPatch(Path(vertices, codes), facecolor=color, alpha=0.45, lw=0))


def draw_flow(ax: Any, flows: Sequence[tuple[str, str, str, float]],
              palette: Sequence[str]) -> None:
    """Draw label → phase → device bands of ``flows`` (label, phase, device, tokens) on ``ax``."""
    flows = [f for f in flows if f[3] > 0]
    whole = sum(f[3] for f in flows)
    columns: list[dict[str, float]] = [defaultdict(float) for _ in range(3)]
    left: dict[tuple[str, str], float] = defaultdict(float)
    right: dict[tuple[str, str], float] = defaultdict(float)
    for label, phase, device, tokens in flows:
        columns[0][label] += tokens
        columns[1][phase] += tokens
        columns[2][device] += tokens
        left[(label, phase)] += tokens
        right[(phase, device)] += tokens
    layouts = [_layout(dict(c), whole) for c in columns]
    xs = (0.0, 1.0, 2.0)
    colors = {name: palette[i % len(palette)] for i, name in enumerate(sorted(columns[0]))}
    phase_colors = {name: PHASE_COLORS.get(name, "#bab0ac") for name in columns[1]}

    def bands(pairs: dict[tuple[str, str], float], src: dict[str, tuple[float, float]],
              dst: dict[str, tuple[float, float]], x0: float, x1: float,
              color_of: dict[str, str]) -> None:
        src_used: dict[str, float] = defaultdict(float)
        dst_used: dict[str, float] = defaultdict(float)
        for (a, b), tokens in sorted(pairs.items()):
            h_src = tokens * (src[a][1] / sum(v for (k, _), v in pairs.items() if k == a))
            h_dst = tokens * (dst[b][1] / sum(v for (_, k), v in pairs.items() if k == b))
            top_a = src[a][0] + src[a][1] - src_used[a]
            top_b = dst[b][0] + dst[b][1] - dst_used[b]
            _ribbon(ax, x0 + NODE_WIDTH, (top_a - h_src, top_a), x1, (top_b - h_dst, top_b),
                    color_of[a])
            src_used[a] += h_src
            dst_used[b] += h_dst

    bands(dict(left), layouts[0], layouts[1], xs[0], xs[1], colors)
    bands(dict(right), layouts[1], layouts[2], xs[1], xs[2], phase_colors)
    for column, (x, layout) in enumerate(zip(xs, layouts, strict=True)):
        for name, (bottom, height) in layout.items():
            color = colors.get(name, "#555555") if column == 0 else "#555555"
            ax.add_patch(_rect(x, bottom, height, color))
            share = columns[column][name] / whole if whole else 0.0
            left_side = column == 0
            ax.text(x - 0.02 if left_side else x + NODE_WIDTH + 0.02, bottom + height / 2,
                    f"{name} {share:.0%}", ha="right" if left_side else "left", va="center",
                    fontsize=7)
    ax.set_xlim(-1.7, 2.75)
    ax.set_ylim(-0.02, 1.02)
    ax.axis("off")


def _rect(x: float, bottom: float, height: float, color: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, bottom), NODE_WIDTH, height, facecolor=color, lw=0)
