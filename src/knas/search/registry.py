"""The strategy registry: each strategy registers itself with its paper defaults.

A strategy is ``fn(ctx: SearchContext, **params) -> arch | None``: it evaluates architectures
through ``ctx`` and returns the one it selects. Budget keys (:data:`BUDGET_FIELDS`) are
parameters of every strategy; a strategy's registered defaults may set them (e.g. REA's
12,000 s time budget).
"""
from __future__ import annotations

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
    supernet: bool = False  # measures supernets (SearchContext.supernet_measure)

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


STRATEGIES: dict[str, StrategySpec] = {}


def register(name: str, *, paper: str, trains: bool, default_repeats: int = DEFAULT_REPEATS, supernet: bool = False,
             **defaults) -> Callable:
    """Decorator registering ``fn(ctx, **params)`` as strategy ``name`` with ``defaults``."""

    def deco(fn):
        if name in STRATEGIES:
            raise KeyError(f"strategy {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        STRATEGIES[name] = StrategySpec(name, fn, paper, doc[0] if doc else "", trains, dict(defaults), default_repeats,
                                        supernet)
        return fn

    return deco


def check_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"parameter {name}={value!r}: must be an integer >= {minimum}")
    return value


def check_float(name: str, value, minimum: float = 0.0, strict: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ValueError(f"parameter {name}={value!r}: must be a number {'>' if strict else '>='} {minimum}")
    return float(value)
