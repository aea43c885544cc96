"""The search-space interface: what every space (NB201, NATS-Bench SSS, NB101, ...) provides.

An architecture is always handled as its **canonical string** (the key of score caches, truth
tables and result files). A space turns strings into its own structured form and back, and
answers everything the stages need about an architecture:

=========================== ==============================================================
strings                     :meth:`Space.parse` / :meth:`Space.format` / :meth:`Space.validate`
                            (a bad string raises ``ValueError`` naming the bad part)
size and index order        :attr:`Space.size`, :attr:`Space.has_index`, :meth:`Space.index_of`,
                            :meth:`Space.arch_of`, :meth:`Space.all_archs` (where the benchmark
                            numbers its architectures; otherwise the space's own enumeration)
benchmark key               :meth:`Space.key`: what the benchmark's own files are keyed by
                            (an index for NB201 / NATS, the graph hash for NB101)
random moves                :meth:`Space.sample` (one uniform draw), :meth:`Space.sample_unique`,
                            :meth:`Space.sample_n` (the sample stage), :meth:`Space.mutate`
                            (the one-step mutation of the benchmark's REA); every one takes a
                            seeded :class:`random.Random`
structure                   :meth:`Space.is_valid`, :meth:`Space.is_degenerate` (e.g. a cell
                            whose output is always zero)
network and cost            :meth:`Space.build_network` (``num_classes``, ``input_size``, the
                            width/depth options of :attr:`Space.network_options`),
                            :meth:`Space.cost` (parameters and FLOPs as the benchmark counts them)
supernet (optional)         :attr:`Space.has_supernet`, :meth:`Space.build_supernet` (every
                            candidate op at once, mixed by an architecture-weight matrix),
                            :meth:`Space.build_thin_supernet` (TE-NAS's linear-region network);
                            what the supernet searches (``tenas``, ``tenas_teg``) measure
=========================== ==============================================================

The interface assumes nothing about how an architecture is made (edges x ops, channel lists,
graphs, two cell types of a DARTS genotype, per-stage widths/depths of an NDS design): only that
it has a canonical string. Modules of this package are pure Python at import time; torch is
imported when a network is built.
"""
from __future__ import annotations

import abc
import random
from dataclasses import dataclass
from typing import Any, Iterator, Mapping


@dataclass(frozen=True)
class Cost:
    """Size of a network as the benchmark reports it: parameter count and FLOPs per image
    (multiply-accumulates of conv/linear layers plus bias adds, the NB201/NATS convention)."""

    params: int
    flops: int

    @property
    def params_M(self) -> float:
        return self.params / 1e6

    @property
    def flops_M(self) -> float:
        return self.flops / 1e6


@dataclass(frozen=True)
class DatasetShape:
    """How the benchmark trains on a dataset: classes and input resolution."""

    num_classes: int
    input_size: int


# The benchmark datasets of the NB201 / NATS-Bench family (cifar10-valid trains like cifar10).
NATS_DATASETS: Mapping[str, DatasetShape] = {
    "cifar10": DatasetShape(10, 32),
    "cifar10-valid": DatasetShape(10, 32),
    "cifar100": DatasetShape(100, 32),
    "ImageNet16-120": DatasetShape(120, 16),
}


def check_rng(rng: object) -> random.Random:
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random instance, got {type(rng).__name__}")
    return rng


def check_positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_input_size(size: object, multiple: int = 1, why: str = "") -> int:
    """A positive input resolution divisible by ``multiple`` (``why`` says what needs it)."""
    check_positive_int("input_size", size)
    if size % multiple:
        raise ValueError(f"input_size {size} must be divisible by {multiple}" + (f" ({why})" if why else ""))
    return size


class Space(abc.ABC):
    """Base class of a search space. Subclasses set the class attributes and implement the
    abstract methods; the rest has generic implementations in terms of those."""

    name: str = ""
    #: number of architectures (None if the space cannot count them)
    size: int | None = None
    #: True when :meth:`index_of` / :meth:`arch_of` / :meth:`all_archs` exist
    has_index: bool = False
    #: True when the index order is the benchmark's own (False: the space's documented enumeration)
    index_is_benchmark: bool = False
    #: width/depth options of :meth:`build_network` / :meth:`cost`, with the benchmark's values
    network_options: Mapping[str, int] = {}
    #: the benchmark's datasets and how it trains on them
    datasets: Mapping[str, DatasetShape] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ---- strings ------------------------------------------------------------------------------

    @abc.abstractmethod
    def parse(self, arch: str) -> Any:
        """Structured form of an architecture string; ``ValueError`` naming the bad part."""

    @abc.abstractmethod
    def format(self, parsed: Any) -> str:
        """Canonical string of a structured architecture (inverse of :meth:`parse`)."""

    def validate(self, arch: Any) -> str:
        """Canonical string of ``arch`` (a string, or the structured form); ``ValueError`` if it
        is not an architecture of this space."""
        if isinstance(arch, str):
            return self.format(self.parse(arch))
        return self.format(arch)

    def is_valid(self, arch: Any) -> bool:
        """Whether ``arch`` is an architecture of this space."""
        try:
            self.validate(arch)
        except (ValueError, TypeError):
            return False
        return True

    def is_degenerate(self, arch: str) -> bool:
        """Whether the network of ``arch`` computes a constant (e.g. an NB201 cell without an
        input-output path): proxies then see no signal. False unless a space says otherwise."""
        self.validate(arch)
        return False

    # ---- index order --------------------------------------------------------------------------

    def _no_index(self) -> ValueError:
        return ValueError(f"space {self.name!r} has no index order")

    def index_of(self, arch: str) -> int:
        """Position of ``arch`` in :meth:`all_archs`."""
        raise self._no_index()

    def arch_of(self, index: int) -> str:
        """Canonical string at ``index`` of :meth:`all_archs`."""
        raise self._no_index()

    def all_archs(self) -> Iterator[str]:
        """Every architecture, in index order."""
        if not self.has_index:
            raise self._no_index()
        return (self.arch_of(i) for i in range(self.size))

    def check_index(self, index: object) -> int:
        if not self.has_index:
            raise self._no_index()
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise ValueError(f"invalid {self.name} index {index!r}; allowed: integers 0..{self.size - 1}")
        return index

    def key(self, arch: str) -> int | str:
        """What the benchmark's files are keyed by (default: the index)."""
        return self.index_of(arch)

    # ---- random moves ---------------------------------------------------------------------------

    def from_draw(self, k: int) -> str:
        """The architecture a uniform draw ``k`` in ``range(size)`` stands for (default: the one at
        index ``k``; a space whose benchmark draws in another order overrides this)."""
        return self.arch_of(k)

    def sample(self, rng: random.Random) -> str:
        """One architecture drawn uniformly (one ``rng.randrange(size)`` draw)."""
        return self.from_draw(check_rng(rng).randrange(self.size))

    def sample_unique(self, n: int, rng: random.Random) -> list[str]:
        """``n`` distinct architectures drawn uniformly without replacement, in draw order
        (``rng.sample(range(size), n)``)."""
        if self.size is None or not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= self.size:
            raise ValueError(f"{self.name}: cannot draw n={n!r} distinct architectures from {self.size}")
        return [self.from_draw(i) for i in check_rng(rng).sample(range(self.size), n)]

    def sample_n(self, n: int, seed: int, unique: bool = True) -> list[str]:
        """The sample stage: ``n`` architectures from ``random.Random(seed)``; ``unique`` draws
        without replacement, otherwise ``n`` independent :meth:`sample` draws."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        rng = random.Random(seed)
        if unique:
            return self.sample_unique(n, rng)
        return [self.sample(rng) for _ in range(n)]

    @abc.abstractmethod
    def mutate(self, arch: str, rng: random.Random) -> str:
        """One mutation step as the benchmark's regularised evolution makes it."""

    # ---- network and cost ---------------------------------------------------------------------

    def options(self, **options: int) -> dict[str, int]:
        """:attr:`network_options` updated by ``options``; unknown names raise ``ValueError``."""
        bad = sorted(set(options) - set(self.network_options))
        if bad:
            allowed = ", ".join(self.network_options) or "none"
            raise ValueError(f"space {self.name!r} has no network option {', '.join(bad)}; allowed: {allowed}")
        out = dict(self.network_options)
        for k, v in options.items():
            out[k] = check_positive_int(k, v)
        return out

    @abc.abstractmethod
    def build_network(self, arch: str, num_classes: int = 10, input_size: int = 32,
                      seed: int | None = None, **options: int):
        """The benchmark's network of ``arch`` (a ``torch.nn.Module`` on the CPU mapping
        ``(B, 3, input_size, input_size)`` to logits ``(B, num_classes)``). ``seed`` seeds torch's
        global RNG first, as the benchmarks' scripts do."""

    @abc.abstractmethod
    def cost(self, arch: str, num_classes: int = 10, input_size: int = 32, **options: int) -> Cost:
        """Parameters and FLOPs of :meth:`build_network`'s network, as the benchmark counts them."""

    # ---- supernet (optional: the supernet searches) ---------------------------------------------

    #: True when :meth:`build_supernet` and :meth:`build_thin_supernet` exist
    has_supernet: bool = False

    def _no_supernet(self) -> ValueError:
        return ValueError(f"space {self.name!r} has no supernet; the supernet searches (tenas, tenas_teg) need "
                          f"one (Space.build_supernet / build_thin_supernet)")

    def build_supernet(self, num_classes: int = 10, **options: int):
        """The space's supernet: a ``torch.nn.Module`` on the CPU holding every candidate operation,
        mapping images to logits ``(B, num_classes)``, whose mixture is set with
        ``set_weights(matrix)`` (an ``(num_edges, num_ops)`` matrix for a cell of edges x ops; a weight
        0 means the op does not run). ``options``: the width/depth options (:attr:`network_options`)
        of the supernet. PyTorch's default initialisation, drawn from torch's global RNG (the caller
        seeds it and re-initialises with :func:`knas.proxies.initialise`, as for scored networks)."""
        raise self._no_supernet()

    def build_thin_supernet(self, num_classes: int = 10):
        """TE-NAS's linear-region network of the supernet (the NB201 / DARTS cell on one channel, no
        stem: it takes ``(B, 1, 3, 3)`` crops), with the same ``set_weights`` as :meth:`build_supernet`."""
        raise self._no_supernet()

    def dataset_shape(self, dataset: str) -> DatasetShape:
        if dataset not in self.datasets:
            raise ValueError(
                f"space {self.name!r} has no benchmark dataset {dataset!r}; allowed: {', '.join(self.datasets)}"
            )
        return self.datasets[dataset]
