"""The strategy registry: each strategy registers itself with its paper defaults.

A strategy is ``fn(ctx: SearchContext, **params) -> arch | None``: it evaluates architectures
through ``ctx`` and returns the one it selects. Budget keys (:data:`BUDGET_FIELDS`) are
parameters of every strategy; a strategy's registered defaults may set them (e.g. REA's
12,000 s time budget).
"""
from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from typing import Callable

from .context import BUDGET_FIELDS

DEFAULT_REPEATS = 100


@dataclass(frozen=True)
class StrategySpec:
    """Registry entry: the function, its defaults, and what it uses."""

    name: str
    fn: Callable
    paper: str
    description: str
    trains: bool  # queries the oracle during the search
    defaults: dict = field(default_factory=dict)
    default_repeats: int = DEFAULT_REPEATS
    minimums: dict = field(default_factory=dict)  # parameter -> smallest allowed value (default 1; floats: > 0)
    choices: dict = field(default_factory=dict)  # string parameter -> its allowed values
    title: str | None = None  # the paper's row label, a format string over the parameters: "NASWOT (N={n})"
    supernet: bool = False  # measures supernets (SearchContext.supernet_measure)
    check: Callable | None = None  # strategy-specific check of the merged parameters (raises ValueError)

    def check_params(self, params) -> tuple[dict, dict]:
        """:meth:`resolve` plus the values' types and ranges, without running anything: integer
        parameters (and those defaulting to None) take integers >= their minimum (1 unless
        registered otherwise), None only where that is the default; float parameters finite numbers
        > 0 (>= a registered minimum); ``epochs`` a fidelity the benchmark records; string
        parameters (``proxy``: a column of the score cache) non-empty strings, one of the registered
        ``choices`` where the strategy has them (e.g. ``optimizer: sgd|adam``); boolean parameters
        true or false; budget keys what :class:`~knas.search.context.Budget` accepts; then the
        strategy's own :attr:`check` (e.g. the supernet searches' indicators and protocol). The
        search job and the config check (``knas.config.check_config``) both call it."""
        from .context import Budget
        from .oracle import check_epochs

        if not isinstance(params, dict):
            raise ValueError(f"strategy {self.name!r}: params must be a mapping of name: value, got {params!r}")
        merged, budget = self.resolve(params)
        Budget(**budget)
        for key, value in merged.items():
            default, minimum = self.defaults.get(key), self.minimums.get(key)
            if key == "epochs":
                check_epochs(value)
            elif key in self.choices:
                if value not in self.choices[key]:
                    raise ValueError(f"parameter {key}={value!r}: allowed: {', '.join(map(str, self.choices[key]))}")
            elif isinstance(default, str):
                if not isinstance(value, str) or not value:
                    raise ValueError(f"parameter {key}={value!r}: must be a non-empty string")
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"parameter {key}={value!r}: must be true or false")
            elif isinstance(default, float):
                check_float(key, value, 0.0 if minimum is None else minimum, strict=minimum is None)
                if not math.isfinite(value):
                    raise ValueError(f"parameter {key}={value!r}: must be a finite number")
            elif default is None or isinstance(default, int):
                if not (value is None and default is None):
                    check_int(key, value, 1 if minimum is None else minimum)
        if self.check is not None:
            self.check(**merged)
        return merged, budget

    def resolve(self, params: dict) -> tuple[dict, dict]:
        """Split ``params`` (over the defaults) into (strategy params, budget); unknown keys fail."""
        allowed = set(self.defaults) | set(BUDGET_FIELDS)
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise ValueError(
                f"strategy {self.name!r}: unknown parameter(s) {unknown}; allowed: {', '.join(sorted(allowed))}"
            )
        merged = {**self.defaults, **params}
        budget = {k: merged.pop(k) for k in BUDGET_FIELDS if k in merged}
        return merged, budget

    def label(self, params: dict) -> str:
        """``name`` plus the parameters that differ from the defaults, e.g. ``naswot(n=10)``."""
        diff = {k: v for k, v in params.items() if k not in self.defaults or self.defaults[k] != v}
        if not diff:
            return self.name
        return f"{self.name}(" + ",".join(f"{k}={diff[k]}" for k in sorted(diff)) + ")"

    def paper_label(self, params: dict) -> str:
        """The paper's row label (``title`` filled with the parameters, e.g. ``NASWOT (N=10)``),
        plus ``[k=v, ...]`` for changed parameters the title does not show; without a title,
        :meth:`label`."""
        if self.title is None:
            return self.label(params)
        merged = {**self.defaults, **params}
        shown = {f[1] for f in string.Formatter().parse(self.title) if f[1]}
        extra = {k: v for k, v in params.items()
                 if k not in shown and (k not in self.defaults or self.defaults[k] != v)}
        text = self.title.format(**merged)
        return text + (" [" + ", ".join(f"{k}={extra[k]}" for k in sorted(extra)) + "]" if extra else "")


STRATEGIES: dict[str, StrategySpec] = {}


def register(name: str, *, paper: str, trains: bool, default_repeats: int = DEFAULT_REPEATS,
             minimums: dict | None = None, choices: dict | None = None, title: str | None = None,
             supernet: bool = False, check: Callable | None = None, **defaults) -> Callable:
    """Decorator registering ``fn(ctx, **params)`` as strategy ``name`` with ``defaults``
    (``minimums``: smallest allowed values where not 1; ``choices``: allowed values of string
    parameters, see :meth:`StrategySpec.check_params`; ``title``: the paper's row label, see
    :meth:`StrategySpec.paper_label`; ``supernet``: the strategy measures supernets,
    :meth:`SearchContext.supernet_measure`; ``check(**params)``: its own parameter check, called
    by ``check_params``)."""

    def deco(fn):
        if name in STRATEGIES:
            raise KeyError(f"strategy {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        for key, allowed in (choices or {}).items():
            if defaults.get(key) not in allowed:
                raise ValueError(f"strategy {name!r}: default {key}={defaults.get(key)!r} not in its choices {allowed}")
        STRATEGIES[name] = StrategySpec(name, fn, paper, doc[0] if doc else "", trains, dict(defaults), default_repeats,
                                        dict(minimums or {}), dict(choices or {}), title, supernet, check)
        return fn

    return deco


def check_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"parameter {name}={value!r}: must be an integer >= {minimum}")
    return value


def check_float(name: str, value, minimum: float = 0.0, strict: bool = True) -> float:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          and (value > minimum if strict else value >= minimum))
    if not ok:
        raise ValueError(f"parameter {name}={value!r}: must be a number {'>' if strict else '>='} {minimum}")
    return float(value)
