"""The proxy registry: each proxy registers itself once, with what it needs and what it shares.

Two views of the same declarations:

- the live registry (:data:`PROXIES`, :data:`COMBINED`, :func:`get`, :func:`load_all`): the
  specs with their functions, filled by importing the proxy modules (they import torch);
- the catalog (:func:`spec`, :func:`pass_groups`, :func:`catalog`): the same specs without the
  functions, read from ``catalog.json`` beside this file, so that the workflow's parse (config
  checks, job planning) and the search drivers read directions, options, members and pass groups
  without importing torch. ``catalog.json`` is written from the live registry by
  ``python tools/make_proxy_catalog.py``; a test fails when it differs from the registry.

This module imports no torch.

``shares`` names the Context entries (shared passes) a proxy computes or reads, by their kind
(the first element of their key, see :class:`knas.proxies.base.Keys`): proxies scored on one
context that share an entry kind pay for that pass once. The first kind is the proxy's *pass
group*: :func:`pass_groups` groups a list of proxies by it, so that proxies which can share a
pass are scored together. One kind is not a Context entry: ``weights``, the group of the proxies
that read the initialised network only (params, flops, l2_norm), which share its build and job.
"""
from __future__ import annotations

import functools
import importlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

MODULES = ("knas", "gtnas", "naswot", "tenas", "zero_cost")
CATALOG = Path(__file__).with_name("catalog.json")
INITS = ("default", "kaiming_normal")  # scoring.init: how the scored networks are initialised (base.initialise)


@dataclass(frozen=True)
class ProxySpec:
    """Registry entry of one proxy.

    ``fn(model, batch, ctx, **options) -> float | ProxyResult``; it must not change ``model``
    (parameters, buffers, mode): work on ``copy.deepcopy(model)`` where the official code mutates.
    ``fn`` is None in a catalog entry (:func:`spec`).
    """

    name: str
    fn: Callable[..., Any] | None
    higher_is_better: bool
    needs_labels: bool
    paper: str
    description: str
    degenerate: str  # documented value on a disconnected / degenerate network
    defaults: dict = field(default_factory=dict)
    shares: tuple[str, ...] = ()  # Context entry kinds it computes or reads; the first is its pass group
    needs_val: bool = False  # also reads the held-out batch (ProxyBatch.x_val / y_val)
    choices: dict = field(default_factory=dict)  # option -> allowed values (string options)

    def check_options(self, options) -> dict:
        """Validate ``options`` (a mapping) against this proxy's options; returns them merged
        over the defaults. Types and ranges follow the defaults: a bool option takes True/False;
        an integer option (or one defaulting to None) an integer >= 1 (>= 0 for seeds), None only
        where that is the default; a string option one of ``choices``. The score job
        (:func:`knas.proxies.compute`) and the config check (``knas.config.check_config``, on the
        catalog entry) both call it.
        """
        if not isinstance(options, dict):
            raise ValueError(f"options of proxy {self.name!r} must be a mapping of option: value, got "
                             f"{type(options).__name__} {options!r}; allowed options: {sorted(self.defaults) or 'none'}")
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise ValueError(f"proxy {self.name!r}: unknown option(s) {sorted(unknown)}; "
                             f"allowed: {sorted(self.defaults) or 'none'}")
        for key, value in options.items():
            problem = _option_problem(key, value, self.defaults[key], self.choices.get(key))
            if problem:
                raise ValueError(f"proxy {self.name!r}: option {key} = {value!r} is invalid; allowed: {problem}")
        return {**self.defaults, **options}

    @property
    def direction(self) -> int:
        """+1 when higher is better, -1 when lower is better."""
        return 1 if self.higher_is_better else -1

    @property
    def pass_group(self) -> str:
        """The shared pass it is scored in (its first ``shares``), or its own name when it shares none."""
        return self.shares[0] if self.shares else self.name


def _option_problem(key: str, value, default, choices) -> str | None:
    """What ``value`` of option ``key`` should be (None when it is fine)."""
    if choices is not None:
        return None if value in choices else ", ".join(map(str, choices))
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if default is None or isinstance(default, int):
        minimum = 0 if "seed" in key else 1
        allowed = f"an integer >= {minimum}" + (" or null" if default is None else "")
        if value is None:
            return None if default is None else allowed
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return None if ok else allowed
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "a finite number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    return None


@dataclass(frozen=True)
class CombinedSpec:
    """A score defined over a *set* of architectures from per-architecture proxies
    (e.g. TEG's rank-sum). ``fn(table) -> pandas.Series`` takes a DataFrame with one row per
    architecture and one column per component proxy and returns the combined score per row."""

    name: str
    components: tuple[str, ...]
    fn: Callable | None
    higher_is_better: bool
    paper: str
    description: str

    @property
    def direction(self) -> int:
        return 1 if self.higher_is_better else -1


PROXIES: dict[str, ProxySpec] = {}
COMBINED: dict[str, CombinedSpec] = {}


def _first_doc_line(fn) -> str:
    doc = (fn.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def register(
    name: str,
    *,
    higher_is_better: bool,
    needs_labels: bool,
    paper: str,
    degenerate: str,
    shares: Iterable[str] = (),
    needs_val: bool = False,
    choices: dict | None = None,
    **defaults,
) -> Callable:
    """Decorator registering ``fn(model, batch, ctx, **options)`` as proxy ``name``.

    ``shares``: the Context entry kinds it computes or reads (module docstring); ``needs_val``:
    it also reads the held-out batch; ``defaults``: the options and their defaults (their types set
    the allowed values, see :meth:`ProxySpec.check_options`); ``choices``: the allowed values of
    string options. May be stacked
    to register one function under several names with different defaults.
    """

    def deco(fn):
        if name in PROXIES or name in COMBINED:
            raise KeyError(f"proxy {name!r} registered twice")
        PROXIES[name] = ProxySpec(
            name=name, fn=fn, higher_is_better=higher_is_better, needs_labels=needs_labels, paper=paper,
            description=_first_doc_line(fn), degenerate=degenerate, defaults=dict(defaults), shares=tuple(shares),
            needs_val=needs_val, choices=dict(choices or {}),
        )
        return fn

    return deco


def register_combined(name: str, *, components, higher_is_better: bool, paper: str) -> Callable:
    """Decorator registering a set-level score built from registered per-architecture proxies."""

    def deco(fn):
        if name in COMBINED or name in PROXIES:
            raise KeyError(f"score {name!r} registered twice")
        COMBINED[name] = CombinedSpec(name, tuple(components), fn, higher_is_better, paper, _first_doc_line(fn))
        return fn

    return deco


_loaded = False


def load_all() -> dict[str, ProxySpec]:
    """Import every proxy module (by name, no directory scan); returns :data:`PROXIES`."""
    global _loaded
    if not _loaded:
        for mod in MODULES:
            importlib.import_module(f"knas.proxies.{mod}")
        _loaded = True
    return PROXIES


def names() -> list[str]:
    return sorted(load_all())


def get(name: str) -> ProxySpec:
    """The live spec (with its function) of proxy ``name``."""
    reg = load_all()
    if name not in reg:
        raise ValueError(f"unknown proxy {name!r}; allowed: {', '.join(sorted(reg))}")
    return reg[name]


# ---- the catalog: the registry without its functions, readable without torch ----------------------

def build_catalog() -> dict:
    """The catalog of the live registry, as ``catalog.json`` holds it (loads every proxy module)."""
    load_all()

    def entry(s) -> dict:
        d = asdict(s)
        d.pop("fn")
        d.pop("name")
        return d

    raw = {
        "proxies": {n: entry(PROXIES[n]) for n in sorted(PROXIES)},
        "combined": {n: entry(COMBINED[n]) for n in sorted(COMBINED)},
    }
    return json.loads(json.dumps(raw))  # as the file holds it (tuples as lists)


def write_catalog(path: str | Path = CATALOG) -> Path:
    path = Path(path)
    path.write_text(json.dumps(build_catalog(), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, ProxySpec | CombinedSpec]:
    """Every registered score by name (per-architecture and combined), from ``catalog.json``."""
    raw = json.loads(CATALOG.read_text())
    out: dict[str, ProxySpec | CombinedSpec] = {}
    for name, d in raw["proxies"].items():
        out[name] = ProxySpec(name=name, fn=None, **{**d, "shares": tuple(d["shares"])})
    for name, d in raw["combined"].items():
        out[name] = CombinedSpec(name=name, fn=None, **{**d, "components": tuple(d["components"])})
    return out


def spec(name: str) -> ProxySpec | CombinedSpec:
    """The declaration of ``name`` (a proxy or a combined score such as ``teg``), without torch."""
    cat = catalog()
    if name not in cat:
        raise ValueError(f"unknown proxy {name!r}; allowed: {', '.join(sorted(cat))}")
    return cat[name]


def members(name: str) -> tuple[str, ...]:
    """The per-architecture proxies ``name`` is computed from: a combined score's components,
    else ``(name,)``."""
    s = spec(name)
    return s.components if isinstance(s, CombinedSpec) else (name,)


def pass_groups(names: Iterable[str]) -> dict[str, list[str]]:
    """``names`` grouped by pass group (:attr:`ProxySpec.pass_group`), groups and members in the
    order given: the proxies of one group share a pass when scored on one context."""
    groups: dict[str, list[str]] = {}
    for n in dict.fromkeys(names):
        s = spec(n)
        if isinstance(s, CombinedSpec):
            raise ValueError(f"{n!r} is a combined score (of {', '.join(s.components)}), not scored by itself")
        groups.setdefault(s.pass_group, []).append(n)
    return groups
