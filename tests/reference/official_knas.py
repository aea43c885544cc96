"""Official-style KNAS references (slow on purpose): one forward/backward per example.

``official_knas_code`` transcribes Jingjing-NLP/KNAS ``exps/NAS-Bench-201/functions.py:44-134``
(``procedure``) as SPEC-proxies.md section 2 describes it: ``network.train()``, for each single
example ``optimizer.zero_grad(); _, logits = net(x_i); CE(logits, y_i).backward()``, then the
``named_parameters()`` walk storing ``copy.copy(param.grad.view(-1).data[0:100])`` and, after the
50th example, the float32 centred-halves loop. ``optimizer.zero_grad()`` is ``set_to_none=True`` on
torch >= 2; ``torch1x_zero_grad=True`` zeroes in place (torch < 2 behaviour), which makes the stored
copies alias one storage.

``official_mgm`` is the paper's Eq. 15/16 computed the slow way with the same per-example loop:
the explicit (n, n) Gram matrix of per-example gradient vectors and its mean (there is no released
code for Eq. 15; the released code computes ``knas_code``).

Uniform signature ``official_<proxy>(model, x, y, **opts) -> float``; the caller's model is not
changed (work on a deep copy).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def _last(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


def official_knas_code(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int = 50,
                       torch1x_zero_grad: bool = False) -> float:
    network = copy.deepcopy(model)
    network.train()
    criterion = nn.CrossEntropyLoss()
    params = list(network.parameters())
    grads: dict = {}
    conv = 0
    for i in range(n):
        inputs, targets = x[i:i + 1], y[i:i + 1]
        # optimizer.zero_grad()
        for p in params:
            if p.grad is not None:
                if torch1x_zero_grad:  # torch < 2: in place
                    p.grad.detach_()
                    p.grad.zero_()
                else:  # torch >= 2: set_to_none=True
                    p.grad = None
        logits = _last(network(inputs))
        loss = criterion(logits, targets)
        loss.backward()
        index_grad = 0
        index_name = 0
        for name, param in network.named_parameters():
            if param.grad is None:
                continue
            if index_name > 10:
                break
            if len(param.grad.view(-1).data[0:100]) < 50:
                continue
            index_grad = name
            index_name += 1
            if name in grads:
                grads[name].append(copy.copy(param.grad.view(-1).data[0:100]))
            else:
                grads[name] = [copy.copy(param.grad.view(-1).data[0:100])]
        if len(grads[index_grad]) == n:
            conv = 0
            half = n // 2
            for name in grads:
                for e in range(50):
                    grad1 = torch.tensor([grads[name][k][e] for k in range(half)])
                    grad2 = torch.tensor([grads[name][k][e] for k in range(half, n)])
                    grad1 = grad1 - grad1.mean()
                    grad2 = grad2 - grad2.mean()
                    conv += torch.dot(grad1, grad2) / (n * n)  # official: /2500 with n = 50
            break
    return float(conv)


def _per_example_loop(model, x, y, n):
    """Official per-example protocol: name -> list of n flattened gradients (None-grad params skipped)."""
    network = copy.deepcopy(model)
    network.train()
    criterion = nn.CrossEntropyLoss()
    out: dict = {}
    for i in range(n):
        network.zero_grad(set_to_none=True)
        loss = criterion(_last(network(x[i:i + 1])), y[i:i + 1])
        loss.backward()
        for name, p in network.named_parameters():
            if p.grad is not None:
                out.setdefault(name, []).append(p.grad.detach().reshape(-1).clone())
    return out


def sampled_entries(model: nn.Module, m: int, seed: int) -> dict:
    """The documented sampling rule: one CPU generator seeded with ``seed``; for every trainable
    tensor in named_parameters order ``randperm(numel)[:m]``."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randperm(p.numel(), generator=gen)[:m]
            for k, p in model.named_parameters() if p.requires_grad}


def official_mgm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int = 50,
                 sampled: int | None = None, seed: int = 0) -> float:
    grads = _per_example_loop(model, x, y, n)
    if sampled is None:
        G = torch.cat([torch.stack(g) for g in grads.values()], 1).double()  # (n, P)
        return float((G @ G.T).mean())  # explicit Gram matrix (n, n)
    idx = sampled_entries(model, sampled, seed)
    vals = []
    for name, g in grads.items():
        G = torch.stack(g)[:, idx[name]].double()  # (n, m)
        vals.append(float((G @ G.T).mean()))
    return sum(vals) / len(vals)
