"""``format_str``: ``pl.format`` built from ``pl.concat_str``.

polars 2.1's ``pl.format`` (its own string-format kernel) panics on the streaming engine
("assertion failed: i < self.len()") when it reads integer or string columns of a filtered
frame made of several inputs' chunks: the labelled frame of several trace files after the
replay window's filter was one. ``concat_str`` of the same pieces gives the same strings
(null where any argument is null) and does not panic, so every reason and id text in the
package is built here.
"""

from __future__ import annotations

import polars as pl


def format_str(template: str, *args: pl.Expr | str) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next of ``args`` cast to text (a str
    argument names a column, as in ``pl.format``); null where any argument is null.

    >>> pl.select(format_str("{} of {}", pl.lit(3), pl.lit("x"))).item()
    '3 of x'
    """
    pieces = template.split("{}")
    if len(pieces) != len(args) + 1:
        msg = f"template {template!r}: {len(pieces) - 1} placeholders, {len(args)} values"
        raise ValueError(msg)
    parts: list[pl.Expr] = []
    for i, piece in enumerate(pieces):
        if piece:
            parts.append(pl.lit(piece, pl.String))
        if i < len(args):
            arg = args[i]
            parts.append((pl.col(arg) if isinstance(arg, str) else arg).cast(pl.String))
    return pl.concat_str(parts)
