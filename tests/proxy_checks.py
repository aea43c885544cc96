"""Shared test helper: a proxy must leave the caller's model exactly as it found it."""
import torch


def snapshot(model):
    """State dict, module modes, requires_grad flags and existing .grad of ``model``."""
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [p.requires_grad for p in model.parameters()],
        [None if p.grad is None else p.grad.clone() for p in model.parameters()],
    )


def assert_same(model, snap):
    sd, modes, req, grads = snap
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == req
    for p, g in zip(model.parameters(), grads):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


def knas_code_scale(net, b, n, ctx=None):
    """sum_e |dot(a_e, b_e)| / n^2 in float64: the size of the terms the score sums (its conditioning)."""
    from knas.proxies import knas as kn
    from knas.proxies.base import Context

    pe = kn.per_example_grads(net, b, ctx or Context(net, b), n)
    taken = kn.select_official_tensors(pe.names, pe.numel)
    s = torch.stack([pe.first(k, 50) for k in taken], 1).double()
    a, c = s[: n // 2] - s[: n // 2].mean(0), s[n // 2:] - s[n // 2:].mean(0)
    return float((a * c).sum(0).abs().sum()) / n**2
