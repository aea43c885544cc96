"""KNAS gradient-kernel proxies (Xu et al., "KNAS: Green Neural Architecture Search", ICML 2021).

Two scores, both "higher is better" (KNAS ranks by descending MGM, ``cifar10.py:74`` ``reverse=True``):

* ``mgm`` -- the paper's Eq. 15 (the default), the mean of the Gram matrix of per-example
  gradients, ``(1/n^2) sum_i sum_j <dl_i/dw, dl_j/dw> = ||(1/n) sum_i dl_i/dw||^2`` over all
  trainable parameters, or (``sampled=m``) Eq. 16: the same mean per parameter tensor restricted to
  ``m`` seeded-random entries, averaged over tensors. Eq. 15 is the default because Algorithm 1
  computes "MGM based on Eq. 15" and it reproduces the paper's correlations; Eq. 16 with m = 50
  does not (README, Protocols). ``estimator="halves"``: the estimator Section 5 describes in words
  ("For each parameter, we split its n gradients from n instances/batches into two vectors where
  each has n/2 items. Then, we calculate the dot-product between these two vectors. Finally, we
  sample m parameter from each parameter matrix and calculate the average dot-product as the final
  MGM score"): for every sampled entry e (``sampled=m`` entries of every used tensor, all entries
  with ``sampled=None``), ``dot(a_e, b_e)`` with ``a_e``/``b_e`` the gradients at e of examples
  ``[0, n/2)`` / ``[n/2, n)``, uncentred; the score is the mean of these dot products over all
  sampled entries of all tensors (not divided by n). Summed over the entries, ``sum_e dot(a_e, b_e)
  = sum_{k < n/2} <g_k, g_{n/2+k}>`` (restricted to the sampled entries): the trace of the
  off-diagonal block of the Gram matrix, i.e. ``n/2`` off-diagonal Gram entries of disjoint example
  pairs (no diagonal ``|g_i|^2`` terms, unlike Eq. 15/16). The released code (``knas_code``)
  differs: it centres each half over its examples, takes the first 50 entries of the first 11
  tensors with >= 50 elements and sums (divided by n^2).
* ``knas_code`` -- what the released code (``exps/NAS-Bench-201/functions.py:44-134``) computes:
  the sum, over the first 50 entries of the first 11 parameter tensors with >= 50 elements, of the
  centred cross-covariance between the two halves of 50 single-example gradients, divided by 2500
  (see SPEC-proxies.md section 2).

Per-example protocol (as the official code): each example is forwarded and back-propagated *on its
own* (batch of one, BatchNorm in train mode, cross-entropy on its label). BatchNorm in train mode on
a batch of one normalises each channel over H x W with the biased variance: that is instance
normalisation followed by BN's affine. :func:`instance_norm_copy` therefore patches every BN layer
of a deep copy to use per-example statistics, and the ``n`` examples go through ONE batched
forward/backward of the summed loss (examples no longer interact, so the gradient of the summed
loss is the sum of the per-example gradients: all Eq. 15/16 need). Individual per-example gradients
come from the same pass ("tape"): forward hooks keep each Conv2d/Linear/BN input (and BN's
per-example statistics) and a tensor hook its output gradient; the backward is taken w.r.t. the
input only, so it computes every activation gradient but no weight gradient. The per-example
gradient of any chosen weight entry is then rebuilt on demand (conv:
``sum_hw g[i, co] * x_pad[i, ci, shifted]``; BN: ``sum_hw g * xhat`` / ``sum_hw g``; linear:
``g[i, o] * x[i, j]``), and so is the summed gradient (``conv2d_weight`` etc.) when ``mgm`` asks.
Models with other trainable parameters (or a module called twice, or an input modified in place)
fall back to a plain batched backward for the summed gradient and, only when individual gradients
are asked for, ``torch.func.vmap(torch.func.grad(...))`` over single examples ("vmap": full
per-example gradients, slower, more memory).
All five KNAS / GT-NAS proxies (:mod:`knas.proxies.gtnas`) share this one pass through
``ctx.cached(Keys.per_example_grads(n), ...)`` (each declares ``shares=("per_example_grads", ...)``).
``mgm`` needs only the summed gradient: when no other proxy sharing ``per_example_grads`` is
planned on the context (``ctx.plans``) and none ran before, it takes a
plain batched backward of the summed loss on the same per-example-BN copy instead (no tape;
:func:`summed_grads`).

Deviations from the official loop, all documented here:

* Running statistics are never updated (the official loop updates BN running stats of the network
  it scores; they do not influence a train-mode forward, so scores are unaffected; the caller's
  model is never touched).
* A BN layer that sees a 1x1 feature map (or a 2-D ``(N, C)`` input) cannot be normalised per
  example: the official code raises ``ValueError: Expected more than 1 value per channel when
  training``; we raise a ValueError naming the layer. (NB201 at 32x32 inputs: smallest map 8x8.)
* Modules other than BatchNorm that behave differently per batch (e.g. dropout) are run batched;
  dropout then draws different masks than a per-example loop. The batched pass assumes the examples
  do not interact in the forward other than through BatchNorm (true for NB201, ordinary CNNs and
  transformers); set ``METHOD = "vmap"`` (single-example ``vmap``, exact, slower) where they do.
* The per-example BN uses ``F.group_norm`` with one group per channel (= instance norm; faster than
  ``F.instance_norm``); it differs from a batch-of-one ``F.batch_norm`` by ~1 ulp.
* Inputs are cast to the model's parameter dtype and device.
* Trainable parameters (``requires_grad``) that the loss does not reach are "unused": the official
  loop sees ``grad is None`` for them and skips them; we do the same. Parameters reached through a
  ``none`` op (``x.mul(0.)``) are used (zero gradient), as in the official code.
* float32: the batched pass rounds differently from a batch of one. A pre-activation within ~1e-6
  of a ReLU kink can then land on the other side (ReLU'(0) = 0) and change that example's gradient
  by a finite amount (seen at C=16/N=5: one example of 50 by 13%, moving ``mgm`` by 2.6e-4 relative;
  the official loop's own float32 result differs from float64 for the same reason). On small
  networks float32 scores agree with the official float32 loop to 1e-4 relative (``knas_code``, a
  sum of terms of both signs, to 1e-4 of the sum of |terms|); with a float64 model to ~1e-12.

Degenerate networks (a disconnected NB201 cell, all-``none`` cells): every weight gradient is exactly
0, only the classifier bias has a gradient ``softmax(b) - onehot(y_i)``; the logits are identical for
every input, which is how degeneracy is detected (flag ``"degenerate"``, the exact value is
returned).
"""
from __future__ import annotations

import types
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .registry import register
from .base import Context, Keys, ProxyBatch, ProxyResult, check_n, logits_of, run_chunked, working_copy

PAPER_KNAS = "Xu et al., KNAS: Green Neural Architecture Search, ICML 2021"
# mgm's estimators: "gram" (Eq. 15, Eq. 16 with sampled=m), "halves" (Sec. 5's split-halves algorithm)
MGM_ESTIMATORS = ("gram", "halves")

# released code (functions.py:71-85): first 11 tensors with >= 50 elements, first 50 entries each
OFFICIAL_MAX_TENSORS = 11
OFFICIAL_ENTRIES = 50

# examples per batched pass (None: all n at once); on CUDA OOM run_chunked halves it and retries.
# Examples are independent (per-example BN), so chunking changes only float rounding.
CHUNK: int | None = None
# how per-example gradients are obtained: "auto" (the tape when every trainable parameter sits in a
# Conv2d/Linear/BatchNorm called once, else a batched pass for the sums + vmap for individual
# gradients), "tape", or "vmap" (single-example vmap for everything: exact even if examples interact)
METHOD = "auto"


# ---------------------------------------------------------------------------------------------
# per-example machinery (shared with gtnas.py)
# ---------------------------------------------------------------------------------------------
def _per_example_bn_forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm forward with the statistics of each example alone (= train-mode BN, batch of one)."""
    if x.dim() < 3 or x[0, 0].numel() == 1:
        raise ValueError(
            f"BatchNorm layer {self._knas_name!r} sees input of shape {tuple(x.shape)}: train-mode BN on "
            "a batch of one needs more than one value per channel (the official KNAS loop raises "
            "'Expected more than 1 value per channel when training'); use larger inputs"
        )
    # (N, C, *S): mean/biased var over S per (example, channel), then BN's affine. group_norm with
    # one group per channel is instance normalisation; it is 2x faster than F.instance_norm on CPU
    # and returns a fresh tensor (F.instance_norm returns a view, see _Tap). Differs from a
    # batch-of-one F.batch_norm by float rounding only (~1 ulp).
    if getattr(self, "_knas_keep_stats", False):  # tape: keep the per-(example, channel) statistics
        N, C = x.shape[:2]
        out, mean, rstd = torch.native_group_norm(x.contiguous(), self.weight, self.bias, N, C,
                                                  x[0, 0].numel(), C, self.eps)
        self._knas_stats = (mean.detach(), rstd.detach())  # (N, C) each
        return out
    return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def instance_norm_copy(model: nn.Module) -> nn.Module:
    """A train-mode deep copy of ``model`` whose BatchNorm layers use per-example statistics.

    Parameter names, order and values are those of ``model``; the caller's model is not changed.
    """
    m = working_copy(model)
    m.train()
    for name, mod in m.named_modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod._knas_name = name
            mod.forward = types.MethodType(_per_example_bn_forward, mod)
    return m


def _prepare_inputs(model: nn.Module, batch: ProxyBatch, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` examples on the model's device and in its dtype."""
    check_n(n, batch)
    p = next((q for q in model.parameters()), None)
    if p is None:
        raise ValueError("the model has no parameters: gradient proxies are undefined")
    x = batch.x[:n].to(device=p.device, dtype=p.dtype)  # (n, C, H, W)
    y = batch.y[:n].to(device=p.device, dtype=torch.long)  # (n,)
    return x, y


def _trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(k, p) for k, p in model.named_parameters() if p.requires_grad]


def input_independent(logits: torch.Tensor) -> bool:
    """True when every example gets bit-identical logits (e.g. a disconnected NB201 cell)."""
    return logits.shape[0] > 1 and bool((logits == logits[:1]).all())


class _Tap:
    """What one Conv2d / Linear / BatchNorm call needs for per-example weight gradients:
    its input ``x`` and the gradient ``g`` of the summed loss w.r.t. its output. Examples are
    independent (per-example BN), so example i's slice of ``g`` is the gradient of loss i alone."""

    def __init__(self, module: nn.Module):
        self.module, self.calls, self.x, self.version, self.g, self.stats = module, 0, None, None, None, None

    def __call__(self, module, inputs, output):  # forward hook
        self.calls += 1
        self.x = inputs[0].detach()
        self.version = inputs[0]._version
        self.stats = getattr(module, "_knas_stats", None)  # BN: (mean, rstd) per (example, channel)
        if output.requires_grad:
            if output._base is not None:  # a hook on a view modified in place later never fires
                output = output.clone()
            output.register_hook(self._save_grad)  # fires with this output's gradient even if it is
            return output  # modified in place later (e.g. Conv -> ReLU(inplace=True))

    def _save_grad(self, grad):
        self.g = grad.detach()

    def entries(self, param: str, idx: torch.Tensor) -> torch.Tensor:
        """Per-example gradient of ``module.<param>`` at flat entries ``idx``: ``(n, E)``."""
        numel = getattr(self.module, param).numel()
        every = torch.arange(numel, device=idx.device)
        if idx.numel() == numel and numel > 1 and bool((idx.sort().values == every).all()):
            return self._entries(param, None)[:, idx]  # all entries: no gather of activations
        return self._entries(param, idx)

    def _entries(self, param: str, idx: torch.Tensor | None) -> torch.Tensor:
        """As :meth:`entries`; ``idx=None`` means every entry in order."""
        mod, x, g = self.module, self.x, self.g
        n = x.shape[0]
        if g is None:  # output unused by the loss: zero gradient
            return x.new_zeros(n, getattr(mod, param).numel() if idx is None else idx.numel())
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            gs = (g if idx is None else g[:, idx]).flatten(2)  # (n, E, S)
            if param == "bias":
                return gs.sum(2)
            xs = (x if idx is None else x[:, idx]).flatten(2)  # (n, E, S)
            if self.stats is None:
                var, mean = torch.var_mean(xs, 2, unbiased=False, keepdim=True)
                rstd = torch.rsqrt(var + mod.eps)
            else:  # the forward's own statistics, (n, C) each
                mean, rstd = (t if idx is None else t[:, idx] for t in self.stats)
                mean, rstd = mean.unsqueeze(2), rstd.unsqueeze(2)
            return ((xs - mean) * gs).sum(2) * rstd.squeeze(2)  # sum_S g * xhat
        if isinstance(mod, nn.Linear):
            g2, x2 = g.reshape(n, -1, g.shape[-1]), x.reshape(n, -1, x.shape[-1])  # (n, T, out), (n, T, in)
            if param == "bias":
                return g2.sum(1) if idx is None else g2[:, :, idx].sum(1)
            if idx is None:
                return torch.einsum("nto,nti->noi", g2, x2).reshape(n, -1)
            o, i = idx // mod.in_features, idx % mod.in_features
            return (g2[:, :, o] * x2[:, :, i]).sum(1)
        if param == "bias":  # Conv2d
            return g.sum((2, 3)) if idx is None else g[:, idx].sum((2, 3))
        if idx is None:
            if mod.groups == 1:
                return self._conv_weight_full()
            idx = torch.arange(mod.weight.numel(), device=x.device)
        return self._conv_weight_entries(idx)

    def _conv_weight_full(self) -> torch.Tensor:
        """Every entry of a (groups=1) conv's per-example weight gradient, ``(n, numel)``:
        ``g (n, Cout, L) @ unfold(x)^T (n, L, Cin*kh*kw)`` (as :meth:`_conv_weight_entries`, batched)."""
        mod, x, g = self.module, self.x, self.g
        n = x.shape[0]
        cols = F.unfold(x, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride)
        return torch.bmm(g.flatten(2), cols.transpose(1, 2)).reshape(n, -1)  # (n, Cout * Cin*kh*kw)

    def summed(self, param: str) -> torch.Tensor:
        """Gradient of ``module.<param>`` summed over the examples (the batched backward's): ``(numel,)``."""
        mod, x, g = self.module, self.x, self.g
        w = getattr(mod, param)
        if g is None:
            return w.detach().new_zeros(w.numel())
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            return self._entries(param, None).sum(0)
        if isinstance(mod, nn.Linear):
            g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])  # (n*T, out), (n*T, in)
            return g2.sum(0) if param == "bias" else (g2.T @ x2).reshape(-1)
        if param == "bias":
            return g.sum((0, 2, 3))
        gw = torch.nn.grad.conv2d_weight(x, w.shape, g, mod.stride, mod.padding, mod.dilation, mod.groups)
        return gw.reshape(-1)

    def _conv_weight_entries(self, idx: torch.Tensor) -> torch.Tensor:
        """``sum_{h,w} g[n, co, h, w] * xpad[n, ci, h*s + a*d, w*s + b*d]`` for each entry (co, ci, a, b)."""
        mod, x, g = self.module, self.x, self.g  # x (n, Cin, H, W), g (n, Cout, Ho, Wo)
        n, (Cout, Cin_g, kh, kw), (Ho, Wo) = x.shape[0], mod.weight.shape, g.shape[2:]
        (sh, sw), (dh, dw), (ph, pw) = mod.stride, mod.dilation, mod.padding
        co, rem = idx // (Cin_g * kh * kw), idx % (Cin_g * kh * kw)
        ci = (co // (Cout // mod.groups)) * Cin_g + rem // (kh * kw)  # input channel of each entry
        a, b = (rem % (kh * kw)) // kw, rem % kw  # kernel offset of each entry
        xp = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x
        out = x.new_empty(n, idx.numel())
        step = max(1, (1 << 23) // max(1, n * Ho * Wo))  # entries per product: <= 8M elements
        off = a * kw + b
        for o in torch.unique(off).tolist():  # one strided view per kernel offset (like unfold)
            i, j = (o // kw) * dh, (o % kw) * dw
            xs = xp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]  # (n, Cin, Ho, Wo)
            sel = (off == o).nonzero().squeeze(1)
            for s in range(0, sel.numel(), step):
                e = sel[s:s + step]
                out[:, e] = (xs.index_select(1, ci[e]) * g.index_select(1, co[e])).sum((2, 3))  # (n, E)
        return out


def _tap_supported(model: nn.Module) -> dict[int, tuple[nn.Module, str]] | None:
    """``id(param) -> (module, 'weight'|'bias')`` when every trainable parameter is the weight or
    bias of a Conv2d (zero padding, numeric), Linear or affine BatchNorm; else None (use vmap)."""
    owner: dict[int, tuple[nn.Module, str]] = {}
    for mod in model.modules():
        ok = isinstance(mod, (nn.Linear, nn.modules.batchnorm._BatchNorm)) or (
            type(mod) is nn.Conv2d and mod.padding_mode == "zeros" and not isinstance(mod.padding, str))
        for pname, p in mod.named_parameters(recurse=False):
            if p.requires_grad:
                if not ok or pname not in ("weight", "bias") or id(p) in owner:
                    return None
                owner[id(p)] = (mod, pname)
    if any(id(p) not in owner for _, p in _trainable(model)):
        return None
    return owner


def _reached_params(loss: torch.Tensor) -> set[int]:
    """ids of the leaf tensors the autograd graph of ``loss`` reaches (their .grad would not be None)."""
    seen, out, stack = set(), set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        var = getattr(fn, "variable", None)  # AccumulateGrad node
        if var is not None:
            out.add(id(var))
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return out


@dataclass
class _Chunk:
    used: set  # names of the trainable parameters the loss reaches
    logits: torch.Tensor  # (e - s, K)
    taps: dict | None = None  # id(module) -> _Tap (tape path)
    sums: dict | None = None  # name -> summed gradient (numel,) (batched path)


class PerExampleGrads:
    """Per-example CE-loss gradients of the first ``n`` examples (batch of one, train-mode BN).

    ``names``: used trainable parameters in ``named_parameters()`` order (unused ones, whose
    official ``grad`` would be None, are left out); ``numel[name]``; :meth:`summed`: the gradient
    summed over examples; :meth:`at` / :meth:`first`: per-example gradients at chosen entries;
    ``logits``: ``(n, num_classes)``. ``method`` is ``"tape"`` or ``"vmap"`` (a batched pass gives
    the sums; full per-example gradients are computed with vmap on the first :meth:`at`).
    """

    def __init__(self, names, numel, chunks: list[_Chunk], owner: dict, method: str, full_fn=None):
        self.names, self.numel, self.method = tuple(names), numel, method
        self._chunks, self._owner = chunks, owner  # name -> (module, 'weight'|'bias') (tape)
        self._full_fn, self._full = full_fn, None  # vmap: () -> {name: (n, numel)}
        self._summed: dict[str, torch.Tensor] = {}
        self.logits = torch.cat([c.logits for c in chunks])

    @property
    def degenerate(self) -> bool:
        return input_independent(self.logits)

    def summed(self, name: str) -> torch.Tensor:
        """Gradient of parameter ``name`` summed over the ``n`` examples: ``(numel,)``."""
        if name not in self._summed:
            if self.method == "vmap":
                parts = [c.sums[name] for c in self._chunks]
            else:
                mod, pname = self._owner[name]
                parts = [c.taps[id(mod)].summed(pname) for c in self._chunks]
            self._summed[name] = torch.stack(parts).sum(0) if len(parts) > 1 else parts[0]
        return self._summed[name]

    def at(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """Per-example gradients of parameter ``name`` at flat entries ``idx``: ``(n, E)``."""
        idx = idx.to(self.logits.device)
        if self.method == "vmap":
            if self._full is None:
                self._full = self._full_fn()
            return self._full[name][:, idx]
        mod, pname = self._owner[name]
        return torch.cat([c.taps[id(mod)].entries(pname, idx) for c in self._chunks])

    def first(self, name: str, k: int) -> torch.Tensor:
        """Per-example gradients at the first ``k`` flattened entries: ``(n, k)``."""
        return self.at(name, torch.arange(min(k, self.numel[name])))


def _tape_chunk(m, named, owner, x, y) -> _Chunk | None:
    """One batched pass; None when the tape cannot be trusted for this model (then use vmap)."""
    taps, handles = {}, []
    for mod, _ in owner.values():
        if id(mod) not in taps:
            taps[id(mod)] = _Tap(mod)
            handles.append(mod.register_forward_hook(taps[id(mod)]))
    try:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            logits = logits_of(m(xr))  # (n, K)
            loss = F.cross_entropy(logits, y, reduction="sum")  # sum of the per-example losses
            reached = _reached_params(loss)
            # gradient w.r.t. the input only: the backward computes every activation gradient (the
            # hooks keep those of the tapped outputs) but skips all weight gradients
            torch.autograd.grad(loss, [xr], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    n = x.shape[0]
    for t in taps.values():  # called twice, input changed in place, or not batch-first: use vmap
        if t.calls > 1 or (t.calls == 1 and (t.x._version != t.version or t.x.dim() < 2 or t.x.shape[0] != n
                                              or (t.g is not None and t.g.shape[0] != n))):
            return None
    used = {k for k, p in named if id(p) in reached}
    if any(taps[id(owner[id(p)][0])].g is None for k, p in named if k in used):
        return None  # a reached module's output is not on a path to the input
    return _Chunk(used, logits.detach(), taps=taps)


def _batched_chunk(m, named, x, y) -> _Chunk:
    """One batched pass of the summed loss: the summed per-example gradients (no per-example ones)."""
    with torch.enable_grad():
        logits = logits_of(m(x))  # (n, K)
        loss = F.cross_entropy(logits, y, reduction="sum")
        sums = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    sums = {k: s.detach().reshape(-1) for (k, _), s in zip(named, sums) if s is not None}
    return _Chunk(set(sums), logits.detach(), sums=sums)


def _vmap_full(m, named, used, x, y) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Full per-example gradients by ``vmap(grad)`` over single examples: name -> (n, numel),
    and the logits (n, K)."""
    params = {k: p.detach() for k, p in named if k in used}

    def loss_one(pdict, xi, yi):  # one example -> scalar loss
        logits = logits_of(torch.func.functional_call(m, pdict, (xi.unsqueeze(0),)))  # (1, K)
        return F.cross_entropy(logits, yi.unsqueeze(0)), logits.squeeze(0)

    per_ex = torch.func.vmap(torch.func.grad(loss_one, has_aux=True), in_dims=(None, 0, 0),
                             randomness="different")

    def chunk(s: int, e: int):
        with torch.enable_grad():
            g, logits = per_ex(params, x[s:e], y[s:e])
        return {k: v.detach().reshape(e - s, -1) for k, v in g.items()}, logits.detach()

    parts = run_chunked(chunk, x.shape[0], CHUNK)
    return {k: torch.cat([p[0][k] for p in parts]) for k in params}, torch.cat([p[1] for p in parts])


def _compute_per_example_grads(model: nn.Module, batch: ProxyBatch, n: int, method: str) -> PerExampleGrads:
    if method not in ("auto", "tape", "vmap"):
        raise ValueError(f"per-example method {method!r} unknown; allowed: auto, tape, vmap")
    x, y = _prepare_inputs(model, batch, n)
    m = instance_norm_copy(model)
    named = _trainable(m)
    owner = _tap_supported(m) if method in ("auto", "tape") else None
    if method == "tape" and owner is None:
        raise ValueError("per-example method 'tape' needs every trainable parameter in a "
                         "Conv2d/Linear/BatchNorm")
    numel = {k: p.numel() for k, p in named}
    if owner is not None:
        bns = [mod for mod in m.modules() if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
        for mod in bns:
            mod._knas_keep_stats = True
        chunks = run_chunked(lambda s, e: _tape_chunk(m, named, owner, x[s:e], y[s:e]), n, CHUNK)
        for mod in bns:
            mod._knas_keep_stats, mod._knas_stats = False, None
        if all(c is not None for c in chunks):
            names = [k for k, _ in named if k in chunks[0].used]
            return PerExampleGrads(names, numel, chunks, {k: owner[id(p)] for k, p in named}, "tape")
    if method == "vmap":  # exact per-example gradients for everything, even if examples interact
        with torch.enable_grad():  # which parameters the loss reaches (official: grad not None)
            reached = _reached_params(F.cross_entropy(logits_of(m(x[:1])), y[:1]))
        names = [k for k, p in named if id(p) in reached]
        full, logits = _vmap_full(m, named, set(names), x, y)
        chunk = _Chunk(set(names), logits, sums={k: full[k].sum(0) for k in names})
        pe = PerExampleGrads(names, numel, [chunk], {}, "vmap")
        pe._full = full
        return pe
    # generic path: a batched pass for the sums; vmap(grad) over single examples when first asked
    chunks = run_chunked(lambda s, e: _batched_chunk(m, named, x[s:e], y[s:e]), n, CHUNK)
    names = [k for k, _ in named if k in chunks[0].used]
    return PerExampleGrads(names, numel, chunks, {}, "vmap",
                           full_fn=lambda: _vmap_full(m, named, set(names), x, y)[0])


def per_example_grads(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int) -> PerExampleGrads:
    """Per-example gradients of the first ``n`` examples, computed once per ``ctx`` (all five
    KNAS/GT-NAS proxies share it). ``METHOD`` picks how (see the module docstring)."""
    return ctx.cached(Keys.per_example_grads(n), lambda: _compute_per_example_grads(model, batch, n, METHOD))


class SummedGrads:
    """The summed per-example gradients alone (all ``mgm`` needs), from one plain batched
    backward of the summed loss on the per-example-BN copy: no tape hooks, the weight gradients
    straight from autograd. ``names``/``summed``/``degenerate`` as :class:`PerExampleGrads`."""

    def __init__(self, names, chunks: list[_Chunk]):
        self.names = tuple(names)
        self._chunks = chunks
        self.logits = torch.cat([c.logits for c in chunks])

    @property
    def degenerate(self) -> bool:
        return input_independent(self.logits)

    def summed(self, name: str) -> torch.Tensor:
        parts = [c.sums[name] for c in self._chunks]
        return torch.stack(parts).sum(0) if len(parts) > 1 else parts[0]


def _compute_summed_grads(model: nn.Module, batch: ProxyBatch, n: int) -> SummedGrads:
    x, y = _prepare_inputs(model, batch, n)
    m = instance_norm_copy(model)
    named = _trainable(m)
    chunks = run_chunked(lambda s, e: _batched_chunk(m, named, x[s:e], y[s:e]), n, CHUNK)
    return SummedGrads([k for k, _ in named if k in chunks[0].used], chunks)


def summed_grads(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int):
    """Summed per-example gradients of the first ``n`` examples for ``mgm``.

    From the shared per-example pass when the context has it or will need it (a per-example
    proxy, one sharing ``per_example_grads`` other than mgm, is planned on the context, or
    ``METHOD == "vmap"``: examples may interact), else from a
    plain batched backward (:class:`SummedGrads`, ~1.7x faster than the tape on CPU).
    """
    if METHOD == "vmap" or ctx.has(Keys.per_example_grads(n)) or ctx.plans("per_example_grads", besides="mgm"):
        return per_example_grads(model, batch, ctx, n)
    return ctx.cached(Keys.summed_grads(n), lambda: _compute_summed_grads(model, batch, n))


def sample_indices(model: nn.Module, m: int, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random entries per trainable parameter tensor: ``name -> (min(m, numel),)`` int64.

    For every trainable tensor in ``named_parameters()`` order (used or not, so the draw depends only
    on the architecture's parameter shapes), ``torch.randperm(numel, generator)[:m]`` with one CPU
    generator seeded with ``seed``. Tensors with fewer than ``m`` entries contribute all of them.
    """
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise ValueError(f"number of sampled parameters must be a positive integer, got {m!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"option seed={seed!r}: must be an integer")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return {k: torch.randperm(p.numel(), generator=gen)[:m] for k, p in _trainable(model)}


def flagged_result(value: float, degenerate: bool) -> ProxyResult:
    """``value`` with flag ``"nan"`` (NaN), ``"degenerate"`` (input-independent network) or None."""
    value = float(value)
    if value != value:  # NaN
        return ProxyResult(value, "nan")
    return ProxyResult(value, "degenerate" if degenerate else None)


# ---------------------------------------------------------------------------------------------
# proxies
# ---------------------------------------------------------------------------------------------
@register(
    "mgm",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_KNAS + " (Eq. 15; Eq. 16 with sampled=m; Sec. 5 split-halves with estimator=halves)",
    degenerate=(
        "disconnected/all-none: every weight gradient is 0, only the classifier bias contributes: "
        "||mean_i(softmax(b) - onehot(y_i))||^2 (Eq. 16: that layer's term / #layers; halves: that "
        "layer's sum of dot products / #sampled entries); small, input-independent, flag 'degenerate'"
    ),
    shares=("per_example_grads", "summed_grads"),
    choices={"estimator": MGM_ESTIMATORS},
    n=50,
    sampled=None,
    seed=0,
    estimator="gram",
)
def mgm(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, sampled: int | None, seed: int,
        estimator: str):
    """KNAS mean gradient kernel (MGM): mean of the Gram matrix of single-example gradients (Eq. 15/16).

    Eq. 15 (``sampled=None``): ``(1/n^2) sum_ij <g_i, g_j> = ||(1/n) sum_i g_i||^2`` with ``g_i`` the
    gradient of example i's CE loss over all trainable parameters (batch of one, train-mode BN), the
    first ``n`` examples of the batch. Eq. 16 (``sampled=m``): for each used parameter tensor, the
    same quantity restricted to ``m`` entries drawn by :func:`sample_indices` (``seed``), averaged over
    tensors (all entries of tensors smaller than ``m``). The squared norms are accumulated in float64.
    ``estimator="halves"``: Sec. 5's split-halves estimator (module docstring).
    """
    if estimator == "halves":
        return _mgm_halves(model, batch, ctx, n, sampled, seed)
    if sampled is not None:
        idx = sample_indices(model, sampled, seed)
    pe = summed_grads(model, batch, ctx, n)
    mean = {k: pe.summed(k).double() / n for k in pe.names}  # (numel,) mean gradient, float64
    if sampled is None:
        total = sum(float(mean[k].pow(2).sum()) for k in pe.names)
    else:
        terms = [float(mean[k][idx[k].to(mean[k].device)].pow(2).sum()) for k in pe.names]
        total = sum(terms) / len(terms) if terms else float("nan")
    return flagged_result(total, pe.degenerate)


def _mgm_halves(model, batch, ctx, n: int, sampled: int | None, seed: int):
    """Sec. 5's estimator of Eq. 16: mean over the sampled entries e of every used tensor of
    ``dot(a_e, b_e) = sum_k a_e[k] b_e[k]``, ``a_e``/``b_e`` = entry e of the gradients of examples
    ``[0, n/2)`` / ``[n/2, n)`` (n/2-vectors)."""
    if not isinstance(n, int) or n < 2 or n % 2:
        raise ValueError(f"option n={n!r}: mgm with estimator=halves needs an even number of examples >= 2")
    idx = sample_indices(model, sampled, seed) if sampled is not None else None
    pe = per_example_grads(model, batch, ctx, n)
    total, count, half = 0.0, 0, n // 2
    for k in pe.names:
        e = idx[k] if idx is not None else torch.arange(pe.numel[k])
        G = pe.at(k, e).double()  # (n, t)
        # dot(a_e, b_e) = sum_{k < n/2} G[k, e] G[n/2 + k, e]: example k paired with example n/2 + k
        total += float((G[:half] * G[half:]).sum())
        count += G.shape[1]
    return flagged_result(total / count if count else float("nan"), pe.degenerate)


def select_official_tensors(names, numels: dict[str, int]) -> list[str]:
    """The released code's choice (functions.py:71-85): walk ``named_parameters()`` skipping
    ``grad is None``; stop once 11 tensors were taken (checked before the size test); skip tensors
    with < 50 elements. I.e. the first 11 used tensors with >= 50 elements."""
    taken: list[str] = []
    for k in names:
        if len(taken) > OFFICIAL_MAX_TENSORS - 1:  # `if index_name > 10: break`
            break
        if numels[k] < OFFICIAL_ENTRIES:  # `if len(grad.view(-1)[0:100]) < 50: continue`
            continue
        taken.append(k)
    return taken


def _torch1x_aliased_score(last: torch.Tensor, half: int, n: int) -> float:
    """The official float32 arithmetic when every stored gradient aliases the last one (torch < 2).

    ``last``: ``(T, 50)``, the last example's selected entries. Each half is ``half`` copies
    of the same value; centring leaves only float32 rounding noise (score ~1e-14..1e-19, >= 0).
    """
    conv = 0
    for v in last.reshape(-1).cpu():  # model dtype (official: float32 models)
        a = v.reshape(1).repeat(half)  # torch.tensor([g_k[i] for k in range(25)]) with g_k == g_last
        a = a - a.mean()
        conv = conv + torch.dot(a, a) / float(n * n)
    return float(conv)


@register(
    "knas_code",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_KNAS + " (released code, exps/NAS-Bench-201/functions.py)",
    degenerate="disconnected/all-none: 0.0 exactly (all selected gradients are 0), flag 'degenerate'",
    shares=("per_example_grads",),
    n=50,
    torch1x_zero_grad=False,
)
def knas_code(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, torch1x_zero_grad: bool):
    """Released KNAS score: summed centred cross-covariance of two halves of single-example gradients.

    For each of the first 11 used parameter tensors with >= 50 elements (``named_parameters()``
    order), and each of their first 50 flattened entries e: ``a``/``b`` = entry e of the gradients of
    examples ``[0, n/2)`` / ``[n/2, n)``, each centred by its mean; score = ``sum dot(a, b) / n^2``
    (official: n = 50, /2500). Can be negative. Accumulated in float64 (official: float32).
    ``torch1x_zero_grad=True`` reproduces the torch < 2 aliasing bug (``copy.copy`` of a gradient
    that ``zero_grad`` then zeroes in place): every stored gradient is the last one and the score is
    float32 rounding noise, ~0.
    """
    if not isinstance(n, int) or n < 2 or n % 2:
        raise ValueError(f"option n={n!r}: knas_code needs an even number of examples >= 2 (official: 50)")
    pe = per_example_grads(model, batch, ctx, n)
    taken = select_official_tensors(pe.names, pe.numel)
    if not taken:
        raise ValueError("knas_code: the model has no used parameter tensor with >= 50 elements")
    sel = torch.stack([pe.first(k, OFFICIAL_ENTRIES) for k in taken], 1)  # (n, T, 50)
    half = n // 2
    if torch1x_zero_grad:
        return flagged_result(_torch1x_aliased_score(sel[-1], half, n), pe.degenerate)
    sel = sel.double()
    a = sel[:half] - sel[:half].mean(0)  # (n/2, T, 50) centred over examples
    b = sel[half:] - sel[half:].mean(0)
    return flagged_result(float((a * b).sum()) / (n * n), pe.degenerate)
