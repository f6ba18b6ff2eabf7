"""Auditable random sampling: k of n regions drawn from a seed a cryptographic source makes at the draw.

Nobody can know the sample beforehand (the seed does not exist until the draw), and anyone can check it
afterwards: the audit log keeps the seed, the population and the sample, and ``redraw`` (``kaohe sample
verify``) draws again from them. The draw is ``random.Random(seed).sample(sorted population, k)`` — Python's
seeding of a string is fixed (version 2: SHA-512 of the seed), so the same seed gives the same sample anywhere.
"""

from __future__ import annotations

import math
import random
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal, InvalidOperation

from ..errors import ExpressionError

METHOD = "random.Random(seed).sample(sorted(population), k)"
_drawn: ContextVar[list | None] = ContextVar("kaohe_draws", default=None)


def draw_sample(population, k=None, share=None) -> dict:
    """Draw ``k`` of ``population`` (or a ``share`` of it, rounded up), e.g. ``draw_sample(regions, share=0.3)``;
    returns ``{'sample', 'seed', 'population', 'k', 'method'}`` and records the draw for the audit log."""
    if isinstance(population, (str, bytes)) or not hasattr(population, "__iter__"):
        raise ExpressionError("draw_sample() 需要一个地区列表 (draw_sample() needs a list of regions)")
    codes = sorted({str(p) for p in population})
    if (k is None) == (share is None):
        raise ExpressionError("draw_sample() 需要 k（个数）或 share（比例）之一 (give either k or share)")
    if share is not None:
        try:
            fraction = Decimal(str(share))
        except InvalidOperation:
            fraction = Decimal(-1)
        if not Decimal(0) <= fraction <= Decimal(1):
            raise ExpressionError(f"draw_sample(): share 应在 0 与 1 之间 (share must be between 0 and 1): {share!r}")
        k = math.ceil(len(codes) * fraction)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(codes):
        raise ExpressionError(f"draw_sample(): k 应为 0 至 {len(codes)} 的整数 (k must be a whole number from 0 to "
                              f"{len(codes)}): {k!r}")
    seed = secrets.token_hex(16)
    record = {"sample": _sample(seed, codes, k), "seed": seed, "population": codes, "k": k, "method": METHOD}
    collected = _drawn.get()
    if collected is not None:
        collected.append(record)
    return record


def redraw(record: dict) -> list[str]:
    """The sample ``record``'s seed and population give: what an auditor compares with the recorded one."""
    return _sample(str(record["seed"]), sorted(str(p) for p in record["population"]), int(record["k"]))


def _sample(seed: str, codes: list[str], k: int) -> list[str]:
    return sorted(random.Random(seed).sample(codes, k))


@contextmanager
def recording():
    """Collect the draws made while running an instance, for the caller to write to the audit log."""
    draws: list[dict] = []
    token = _drawn.set(draws)
    try:
        yield draws
    finally:
        _drawn.reset(token)


HELPERS = {"draw_sample": draw_sample}
