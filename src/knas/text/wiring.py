"""Layer-to-layer rewiring of a pre-trained RoBERTa encoder (the KNAS text search space).

KNAS (Xu et al., ICML 2021, section "text classification") searches skip connections of a
pre-trained RoBERTa-large: no parameter is added, only the inputs of some encoder layers change, so
every candidate starts from the pre-trained weights. The encoder's ``N`` layers
(``config.num_hidden_layers``: 24 for RoBERTa-large, 12 for RoBERTa-base) are split into consecutive
*cells* of ``L`` layers, ``L = 2..11``; the last cell takes the remainder (``N mod L`` layers; none
when ``L`` divides ``N``; a single cell of all ``N`` layers when ``L >= N``). All fusions are plain
averages.

States are numbered ``0`` (the embeddings) and ``j`` (the output of layer ``j``, 1-based). A cell
of layers ``a..b`` has input state ``a - 1``. The wiring gives, for every layer, the states whose
average is its input (stock RoBERTa: layer ``j`` reads state ``j - 1``):

* ``highway``: chained; the cell's last layer ``b`` reads ``avg(state a, state b-1)`` (the cell's
  first layer output and the previous layer's output).
* ``lookahead``: chained; the cell's last layer reads ``avg(state a-1, ..., state b-1)``.
* ``densenet``: chained inside a cell; the first layer of cell ``k`` reads the average of the outputs
  of cells ``0..k-1`` (cell 0 = the embeddings, cell ``i``'s output = its last layer's output).
* ``identity``: the unmodified model (the baseline).

Reading choices (the issue text leaves them open; both are needed for 30 distinct candidates):

1. ``lookahead`` counts the cell's *input* (the output of the layer before the cell, or the
   embeddings) among "the outputs of all previous layers of the cell". Without it, lookahead with
   ``L = 3`` would equal highway with ``L = 3`` (both ``avg(state a, state a+1)``) and lookahead with
   ``L = 2`` would be the baseline.
2. ``highway`` is read literally, so for ``L = 2`` (and any 2-layer remainder cell) the average is
   of one state with itself: **highway-L2 is functionally the unmodified model.** Its sources are
   stored de-duplicated, so :meth:`Wiring.sources` returns the identity sources and
   :meth:`Wiring.same_as_baseline` is True; it stays in the 30 (the search space as specified). In a
   2-layer cell only one non-trivial average exists, so highway-L2 and lookahead-L2 cannot both be
   non-trivial and distinct.

The 30 candidates are pairwise distinct for RoBERTa-large/-base (24 / 12 layers) and any encoder of
at least 12 layers (checked by the tests and by :func:`candidates` with ``distinct=True``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

STRUCTURES = ("highway", "lookahead", "densenet")  # the searched structures
ALL_STRUCTURES = ("identity",) + STRUCTURES
LENGTHS = tuple(range(2, 12))  # cell lengths L = 2..11 (KNAS)

_NAME_RE = re.compile(r"^(highway|lookahead|densenet)-L(\d+)$")


@dataclass(frozen=True)
class Wiring:
    """One candidate: ``structure`` in :data:`ALL_STRUCTURES`, cell length ``L`` in 2..11 (None for identity)."""

    structure: str = "identity"
    L: int | None = None

    def __post_init__(self) -> None:
        if self.structure not in ALL_STRUCTURES:
            raise ValueError(f"unknown wiring structure {self.structure!r}; allowed: {', '.join(ALL_STRUCTURES)}")
        if self.structure == "identity":
            if self.L is not None:
                raise ValueError(f"the identity wiring takes no cell length (got L={self.L!r})")
            return
        if not isinstance(self.L, int) or isinstance(self.L, bool) or self.L not in LENGTHS:
            raise ValueError(
                f"cell length L={self.L!r} for structure {self.structure!r} is outside "
                f"{LENGTHS[0]}..{LENGTHS[-1]} (allowed: integers {LENGTHS[0]} to {LENGTHS[-1]})"
            )

    # -- names ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``identity`` or ``<structure>-L<L>``, e.g. ``highway-L3`` (used in file names and tables)."""
        return "identity" if self.structure == "identity" else f"{self.structure}-L{self.L}"

    @classmethod
    def parse(cls, name: str) -> "Wiring":
        """Inverse of :attr:`name`; ``baseline`` is accepted for ``identity``."""
        if name in ("identity", "baseline"):
            return cls()
        m = _NAME_RE.match(name)
        if not m:
            raise ValueError(
                f"bad wiring name {name!r}; expected 'identity' (or 'baseline') or '<structure>-L<n>' "
                f"with structure in {', '.join(STRUCTURES)} and n in {LENGTHS[0]}..{LENGTHS[-1]}"
            )
        return cls(m.group(1), int(m.group(2)))

    def __str__(self) -> str:
        return self.name

    # -- structure ----------------------------------------------------------------------------
    def cells(self, num_layers: int) -> tuple[tuple[int, int], ...]:
        """Cells as 1-based inclusive layer ranges ``(first, last)``; ``()`` for identity.

        Consecutive cells of ``L`` layers, the last one taking the remainder, e.g. 24 layers, L=5:
        ``(1,5) (6,10) (11,15) (16,20) (21,24)``.
        """
        _check_num_layers(num_layers)
        if self.structure == "identity":
            return ()
        return tuple((a, min(a + self.L - 1, num_layers)) for a in range(1, num_layers + 1, self.L))

    def sources(self, num_layers: int) -> tuple[tuple[int, ...], ...]:
        """For layers ``1..num_layers``: the sorted, de-duplicated states averaged into its input.

        State 0 is the embeddings, state j the output of layer j. Identity: ``((0,), (1,), ...)``.
        """
        src: list[tuple[int, ...]] = [(j - 1,) for j in range(1, num_layers + 1)]
        cells = self.cells(num_layers)
        if self.structure == "highway":
            for a, b in cells:
                if b > a:
                    src[b - 1] = (a, b - 1)
        elif self.structure == "lookahead":
            for a, b in cells:
                src[b - 1] = tuple(range(a - 1, b))
        elif self.structure == "densenet":
            outs = [0]  # outputs of cells 0..k-1 (cell 0 = embeddings)
            for a, b in cells:
                src[a - 1] = tuple(outs)
                outs.append(b)
        return tuple(tuple(sorted(set(s))) for s in src)

    def same_as_baseline(self, num_layers: int) -> bool:
        """True when every layer reads only the previous layer (the stock model's function)."""
        return self.sources(num_layers) == Wiring().sources(num_layers)

    def describe(self, num_layers: int) -> str:
        """The changed inputs, e.g. ``L3<-avg(1,2); L6<-avg(4,5)`` (``unchanged`` for the baseline)."""
        changed = [
            f"L{j}<-avg({','.join(map(str, s))})"
            for j, s in enumerate(self.sources(num_layers), start=1)
            if s != (j - 1,)
        ]
        return "; ".join(changed) if changed else "unchanged"


def _check_num_layers(num_layers: int) -> None:
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")


def candidates(num_layers: int = 24, *, distinct: bool = True) -> list[Wiring]:
    """The 30 searched wirings (3 structures x L = 2..11), structure-major; the baseline is not included.

    With ``distinct=True`` raise a ValueError when two candidates have the same sources for this
    encoder depth (encoders of fewer than 12 layers: several lengths give one single cell).
    """
    out = [Wiring(s, L) for s in STRUCTURES for L in LENGTHS]
    if distinct:
        seen: dict[tuple, str] = {}
        for w in out:
            key = w.sources(num_layers)
            if key in seen:
                raise ValueError(
                    f"with num_layers={num_layers} the candidates {seen[key]} and {w.name} have the same "
                    "wiring; use an encoder of at least 12 layers (or distinct=False)"
                )
            seen[key] = w.name
    return out


# -----------------------------------------------------------------------------------------------
# the rewired encoder
# -----------------------------------------------------------------------------------------------
class RewiredRobertaEncoder(nn.Module):
    """Drop-in replacement of transformers' ``RobertaEncoder`` that feeds each layer the average of
    the states named by a :class:`Wiring`.

    It holds the *same* ``layer`` ModuleList (parameter names ``layer.{i}.…`` and values unchanged, so
    state dicts of the stock model load as they are) and calls each ``RobertaLayer`` exactly as the
    stock ``RobertaEncoder.forward`` of transformers 5.x does (same attention mask, positional
    ``encoder_hidden_states`` for gradient checkpointing, ``**kwargs`` passed through). With the
    identity wiring every layer reads the previous output unchanged, so the forward is the stock
    one, bit for bit.
    """

    def __init__(self, encoder: nn.Module, wiring: Wiring | None = None):
        super().__init__()
        self.config = encoder.config
        self.layer = encoder.layer
        self.set_wiring(wiring or Wiring())

    def set_wiring(self, wiring: Wiring) -> None:
        if not isinstance(wiring, Wiring):
            raise TypeError(f"wiring must be a knas.text.wiring.Wiring, got {type(wiring).__name__}")
        self.wiring = wiring
        self._sources = wiring.sources(len(self.layer))
        # the last layer that reads each state, so states nobody needs any more are dropped
        last_use: dict[int, int] = {}
        for i, src in enumerate(self._sources):
            for s in src:
                last_use[s] = i
        self._last_use = last_use

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, T, H) embeddings
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool | None = None,
        **kwargs,
    ):
        from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions

        states: dict[int, torch.Tensor] = {0: hidden_states}  # state index -> (B, T, H)
        for i, layer_module in enumerate(self.layer):
            src = self._sources[i]
            if len(src) == 1:
                x = states[src[0]]
            else:
                x = torch.stack([states[s] for s in src], 0).mean(0)  # (B, T, H)
            for s in src:
                if self._last_use.get(s) == i:
                    del states[s]
            hidden_states = layer_module(
                x,
                attention_mask,
                encoder_hidden_states,  # positional, as the stock encoder (gradient checkpointing)
                encoder_attention_mask=encoder_attention_mask,
                past_key_values=past_key_values,
                **kwargs,
            )
            if i + 1 in self._last_use:
                states[i + 1] = hidden_states
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states,
            past_key_values=past_key_values if use_cache else None,
        )


def _base_model(model: nn.Module) -> nn.Module:
    """The ``RobertaModel`` inside ``model`` (a ``RobertaFor…`` head model or the base model itself)."""
    base = getattr(model, "roberta", model)
    enc = getattr(base, "encoder", None)
    if enc is None or not hasattr(enc, "layer") or not hasattr(base, "embeddings"):
        raise ValueError(
            f"rewire expects a transformers RoBERTa model (RobertaModel or RobertaFor*), got {type(model).__name__}"
        )
    return base


def rewire(model: nn.Module, wiring: Wiring | str) -> nn.Module:
    """Set ``model``'s encoder wiring in place and return ``model``.

    The first call swaps ``model.roberta.encoder`` for a :class:`RewiredRobertaEncoder` over the same
    layers; later calls only change the wiring. No parameter is added, removed or changed.
    """
    if isinstance(wiring, str):
        wiring = Wiring.parse(wiring)
    base = _base_model(model)
    enc = base.encoder
    if isinstance(enc, RewiredRobertaEncoder):
        enc.set_wiring(wiring)
        return model
    from transformers.models.roberta.modeling_roberta import RobertaEncoder

    if not isinstance(enc, RobertaEncoder):
        raise ValueError(f"rewire expects transformers' RobertaEncoder, got {type(enc).__name__}")
    n_before = sum(p.numel() for p in model.parameters())
    base.encoder = RewiredRobertaEncoder(enc, wiring)
    n_after = sum(p.numel() for p in model.parameters())
    assert n_before == n_after, f"rewiring changed the parameter count ({n_before} -> {n_after})"
    return model


def get_wiring(model: nn.Module) -> Wiring:
    """The model's current wiring (identity for a stock model)."""
    enc = _base_model(model).encoder
    return enc.wiring if isinstance(enc, RewiredRobertaEncoder) else Wiring()
