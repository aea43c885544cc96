"""Shared helpers of the proxy tests: xautodl's NB201 network under a seed, the model-untouched
check, and knas_code's conditioning. The named cells and the batch helper are in :mod:`cells`."""
import torch


def xnet(arch, C=4, N=1, k=10, seed=0, dtype=torch.float32):
    """xautodl's ``infer.tiny`` NB201 network built under ``torch.manual_seed(seed)``."""
    from xautodl import models  # the test modules skip themselves when xautodl is missing

    torch.manual_seed(seed)
    net = models.get_cell_based_tiny_net({"name": "infer.tiny", "C": C, "N": N, "arch_str": arch, "num_classes": k})
    return net.to(dtype)


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
