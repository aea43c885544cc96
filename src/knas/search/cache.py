"""The score cache: proxy values (and what they cost) per architecture, computed once.

Backed by a score table as ``knas score`` writes it: one row per architecture, column ``arch``,
and per proxy ``<proxy>`` (value) and ``<proxy>__seconds`` (what computing it took).
Entries missing from the table are computed through a callback
``compute(arch, names) -> {name: value, name + "__seconds": seconds, ...}`` (a row of the
same format, e.g. from :func:`scoring_callback`) and kept, so a search over the whole space
can score on demand and a rerun with new seeds reads everything back.

An entry is *missing* when its architecture or proxy column is absent, or when the table has a
``__seconds`` column and it is NaN for that row (the row of an outer merge that never scored
that proxy). A NaN value with a recorded time is a real (undefined) score. Without a
``__seconds`` column the cost is unknown and counted as 0 s.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Mapping, Sequence

SECONDS = "__seconds"
RESERVED = {"arch", "arch_id", "order", "arch_str", "nb201_index"}

ComputeFn = Callable[[str, Sequence[str]], Mapping[str, float]]


class ProxyCache:
    """Proxy values per architecture, with their recorded seconds; see the module docstring.

    ``higher_is_better`` overrides/extends the direction of each proxy, which otherwise comes
    from the proxy registry (:mod:`knas.proxies`).
    """

    def __init__(
        self,
        table=None,
        compute: ComputeFn | None = None,
        *,
        higher_is_better: Mapping[str, bool] | None = None,
        arch_col: str = "arch",
        canonical: Callable[[str], str] | None = None,
    ):
        self._values: dict[str, dict[str, float]] = {}  # proxy -> arch -> value
        self._seconds: dict[str, dict[str, float]] = {}  # proxy -> arch -> seconds (absent column: {})
        self._timed: set[str] = set()  # proxies whose table has a __seconds column
        self.compute = compute
        self.n_computed = 0  # architectures computed through the callback
        self.compute_seconds = 0.0  # wall time spent in the callback
        self._directions = dict(higher_is_better or {})
        if table is not None:
            if arch_col not in table.columns:
                raise ValueError(f"score table has no {arch_col!r} column; columns: {list(table.columns)}")
            archs = [canonical(a) if canonical else a for a in table[arch_col].tolist()]
            if len(set(archs)) != len(archs):
                raise ValueError("score table lists an architecture twice; merge shards first")
            for col in table.columns:
                if col in RESERVED or col == arch_col or "__" in col:
                    continue
                try:
                    values = table[col].astype(float).tolist()
                except (TypeError, ValueError):
                    continue  # not a numeric proxy column
                self._values[col] = dict(zip(archs, values))
                if col + SECONDS in table.columns:
                    self._timed.add(col)
                    self._seconds[col] = dict(zip(archs, table[col + SECONDS].astype(float).tolist()))
                else:
                    self._seconds[col] = {}

    @property
    def names(self) -> list[str]:
        """Proxies with at least one entry."""
        return sorted(self._values)

    def __contains__(self, key: tuple[str, str]) -> bool:
        arch, name = key
        return self._lookup(arch, name) is not None

    def _lookup(self, arch: str, name: str) -> tuple[float, float] | None:
        vals = self._values.get(name)
        if vals is None or arch not in vals:
            return None
        secs = self._seconds[name].get(arch, math.nan)
        if name in self._timed and math.isnan(secs):
            return None
        return vals[arch], (0.0 if math.isnan(secs) else secs)

    def score(self, arch: str, name: str) -> tuple[float, float]:
        """``(value, seconds)`` of proxy ``name`` on ``arch``; computed through the callback if missing."""
        return self.scores(arch, [name])[name]

    def scores(self, arch: str, names: Sequence[str]) -> dict[str, tuple[float, float]]:
        """``{name: (value, seconds)}``; all missing names of ``arch`` are computed in one callback."""
        found = {n: self._lookup(arch, n) for n in names}
        missing = [n for n, v in found.items() if v is None]
        if missing:
            if self.compute is None:
                raise ValueError(
                    f"no {', '.join(repr(m) for m in missing)} score for architecture {arch!r} in the score table "
                    f"(proxies in the table: {', '.join(self.names) or 'none'}) and no compute callback"
                )
            t0 = time.perf_counter()
            row = self.compute(arch, list(missing))
            self.compute_seconds += time.perf_counter() - t0
            self.n_computed += 1
            for n in missing:
                if n not in row:
                    raise ValueError(f"compute callback returned no {n!r} for architecture {arch!r}")
                self._values.setdefault(n, {})[arch] = float(row[n])
                secs = float(row.get(n + SECONDS, math.nan))
                self._seconds.setdefault(n, {})[arch] = secs
                if not math.isnan(secs):
                    self._timed.add(n)
                found[n] = (float(row[n]), 0.0 if math.isnan(secs) else secs)
        return found  # type: ignore[return-value]

    def higher_is_better(self, name: str) -> bool:
        """Direction of proxy ``name``: the override given at construction, else the registry's."""
        if name in self._directions:
            return bool(self._directions[name])
        from knas import proxies

        reg = proxies.catalog()  # the declarations, without importing the proxies (torch)
        if name in reg:
            return reg[name].higher_is_better
        raise ValueError(
            f"unknown direction for proxy {name!r}: not a registered proxy ({', '.join(sorted(reg))}); "
            f"pass higher_is_better={{{name!r}: True/False}}"
        )

    def to_frame(self):
        """The cache as a score table (``arch``, ``<proxy>``, ``<proxy>__seconds``), for saving back."""
        import pandas as pd

        archs = sorted({a for vals in self._values.values() for a in vals})
        data: dict[str, list] = {"arch": archs}
        for n in self.names:
            data[n] = [self._values[n].get(a, math.nan) for a in archs]
            data[n + SECONDS] = [self._seconds[n].get(a, math.nan) for a in archs]
        return pd.DataFrame(data)


def scoring_callback(data, cfg=None) -> ComputeFn:
    """A compute callback that scores one architecture with :func:`knas.scoring.score_architectures`
    on ``data`` (a prepared dataset) with ``cfg`` (a :class:`knas.scoring.ScoringConfig`: the
    study's, with every proxy's options and batch size, so a score computed on demand is the one
    the study's table would hold; each call uses the part of it for the proxies it computes)."""
    from knas import scoring

    cfg = cfg or scoring.ScoringConfig()

    def compute(arch: str, names: Sequence[str]) -> dict[str, float]:
        row = scoring.score_architectures([arch], list(names), data, cfg.for_proxies(names), progress=False).iloc[0]
        return {k: row[k] for k in row.index if k in names or k.endswith(SECONDS)}

    return compute
