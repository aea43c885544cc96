"""Official-style NASWOT ``hook_logdet``: a transcription of BayesWatch/nas-without-training
``score_networks.py`` (L50-56 ``get_batch_jacobian``, L98-149 hooks + scoring) and
``scores.py:7-9`` (``hooklogdet``), at commit b3a82a6.

Kept faithful on purpose, including its cost (forward + backward + a second forward, two
float32 matmuls per hooked module) and its quirks: every module whose class name contains
"ReLU" is hooked (so NB201 ``ReLUConvBN`` inputs count twice); the first forward's hook raises
AttributeError (no ``visited_backwards`` yet), swallowed by the bare ``except``; the old-style
``register_backward_hook`` marks modules reached by backward. Differences: the model is deep-
copied first (the official script mutates its network), and the logits are the LAST element of
a tuple output (NASWOT's own TinyNetwork returns ``(logits, out)``, xautodl ``(out, logits)``).
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch


def _logits(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


def official_naswot(model, x, y=None, **opts) -> float:
    """``np.linalg.slogdet(K)[1]`` of the official hook kernel on ``x`` (labels unused)."""
    network = copy.deepcopy(model)
    batch_size = x.shape[0]
    network.K = np.zeros((batch_size, batch_size))

    def counting_forward_hook(module, inp, out):
        try:
            if not module.visited_backwards:
                return
            if isinstance(inp, tuple):
                inp = inp[0]
            inp = inp.view(inp.size(0), -1)
            x = (inp > 0).float()
            K = x @ x.t()
            K2 = (1.0 - x) @ (1.0 - x.t())
            network.K = network.K + K.cpu().numpy() + K2.cpu().numpy()
        except:  # noqa: E722  (official: bare except)
            pass

    def counting_backward_hook(module, inp, out):
        module.visited_backwards = True

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # register_backward_hook is deprecated
        for name, module in network.named_modules():
            if "ReLU" in str(type(module)):
                module.register_forward_hook(counting_forward_hook)
                module.register_backward_hook(counting_backward_hook)

        x2 = torch.clone(x)
        x = x.clone()
        # get_batch_jacobian
        network.zero_grad()
        x.requires_grad_(True)
        yy = _logits(network(x))
        yy.backward(torch.ones_like(yy))
        # second forward accumulates K
        network(x2)
    s, ld = np.linalg.slogdet(network.K)
    return float(ld)
