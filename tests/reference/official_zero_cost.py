"""Official-style zero-cost proxies: a faithful transcription of SamsungLabs/zero-cost-nas.

Transcribes ``foresight/pruners/predictive.py`` (``copynet``, ``find_measures``' ``sum_arr``),
``foresight/pruners/p_utils.py`` (``get_layer_metric_array``, ``reshape_elements``) and the
measure functions ``foresight/pruners/measures/{grad_norm,snip,grasp,fisher,jacob_cov,plain,
synflow,l2_norm}.py`` (commit a43bfbc90c1a02a81fb4397a5e096759e93fbe50), keeping their sequence
of operations *and their cost* (one deep copy per measure, ``loss.backward()`` into every
parameter's ``.grad``, the snip mask parameters, grasp's two forwards, the fisher identity hooks,
``reshape_elements``' Python loop over channels, float32 ``sum_arr``).  The benchmark times
these against ``knas.proxies.zero_cost``; the tests use them as the ground truth.

Uniform signature: ``official_<proxy>(model, x, y, **opts) -> float`` (``y`` unused by the
label-free ones).  The model is never modified (every measure runs on ``copy.deepcopy``).

Differences from upstream, none of which changes a value:
* upstream calls ``net.forward(x)`` and needs a logits-only network; here the logits are the
  last element when the forward returns a tuple (xautodl's TinyNetwork returns
  ``(features, logits)``);
* ``jacob_cov`` works on a clone of ``x`` (upstream toggles ``requires_grad`` on, and leaves a
  ``.grad`` on, the caller's input tensor) and does not print the exception;
* ``find_measures`` moves the caller's network to the CPU and back and finally calls
  ``net_orig.train()`` (a mutation of the caller's model); not reproduced;
* ``l2_norm`` is called directly (upstream ``find_measures`` cannot call it, SPEC §5).

``official_params`` is ``p_utils.count_parameters``; ``official_flops`` is not zero-cost-nas code but
the NB201 authors' counter (xautodl ``get_model_infos``), which the zero-cost paper's FLOPs baseline
reads from the benchmark.
"""
from __future__ import annotations

import copy
import types
import warnings

import numpy as np
import torch
import torch.autograd as autograd
import torch.nn as nn
import torch.nn.functional as F


def _logits(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


# ---- predictive.py / p_utils.py ------------------------------------------------------------

def _no_op(self, x):
    return x


def copynet(net: nn.Module, bn: bool) -> nn.Module:
    """``predictive.copynet``: deepcopy; with ``bn=False`` every BatchNorm forward is identity."""
    net = copy.deepcopy(net)
    if bn is False:
        for layer in net.modules():
            if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
                layer.forward = types.MethodType(_no_op, layer)
    return net


def get_layer_metric_array(net, metric, mode):
    metric_array = []
    for layer in net.modules():
        if mode == "channel" and hasattr(layer, "dont_ch_prune"):
            continue
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            metric_array.append(metric(layer))
    return metric_array


def reshape_elements(elements, shapes, device):
    def broadcast_val(elements, shapes):
        ret_grads = []
        for e, sh in zip(elements, shapes):
            ret_grads.append(torch.stack([torch.Tensor(sh).fill_(v) for v in e], dim=0).to(device))
        return ret_grads

    if type(elements[0]) == list:  # noqa: E721  (as upstream)
        return [broadcast_val(e, sh) for e, sh in zip(elements, shapes)]
    return broadcast_val(elements, shapes)


def sum_arr(arr) -> float:
    """``find_measures.sum_arr``: torch-scalar accumulation (float32 for float32 arrays)."""
    total = 0.0
    for a in arr:
        total += torch.sum(a)
    return total.item()


# ---- measures ----------------------------------------------------------------------------

def compute_grad_norm(net, inputs, targets, loss_fn, split_data=1):
    net.zero_grad()
    N = inputs.shape[0]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        outputs = _logits(net.forward(inputs[st:en]))
        loss = loss_fn(outputs, targets[st:en])
        loss.backward()
    return get_layer_metric_array(
        net, lambda l: l.weight.grad.norm() if l.weight.grad is not None else torch.zeros_like(l.weight),
        mode="param",
    )


def _snip_forward_conv2d(self, x):
    return F.conv2d(x, self.weight * self.weight_mask, self.bias, self.stride, self.padding,
                    self.dilation, self.groups)


def _snip_forward_linear(self, x):
    return F.linear(x, self.weight * self.weight_mask, self.bias)


def compute_snip(net, inputs, targets, loss_fn, mode="param", split_data=1):
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.weight_mask = nn.Parameter(torch.ones_like(layer.weight))
            layer.weight.requires_grad = False
        if isinstance(layer, nn.Conv2d):
            layer.forward = types.MethodType(_snip_forward_conv2d, layer)
        if isinstance(layer, nn.Linear):
            layer.forward = types.MethodType(_snip_forward_linear, layer)
    net.zero_grad()
    N = inputs.shape[0]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        outputs = _logits(net.forward(inputs[st:en]))
        loss = loss_fn(outputs, targets[st:en])
        loss.backward()

    def snip(layer):
        if layer.weight_mask.grad is not None:
            return torch.abs(layer.weight_mask.grad)
        return torch.zeros_like(layer.weight)

    return get_layer_metric_array(net, snip, mode)


def compute_grasp(net, inputs, targets, loss_fn, mode="param", T=1, num_iters=1, split_data=1):
    weights = []
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            weights.append(layer.weight)
            layer.weight.requires_grad_(True)
    net.zero_grad()
    N = inputs.shape[0]
    grad_w = None
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        # forward/grad pass #1 (upstream resets grad_w per split chunk: only the last chunk
        # survives when split_data > 1; transcribed as is)
        grad_w = None
        for _ in range(num_iters):
            outputs = _logits(net.forward(inputs[st:en])) / T
            loss = loss_fn(outputs, targets[st:en])
            grad_w_p = autograd.grad(loss, weights, allow_unused=True)
            if grad_w is None:
                grad_w = list(grad_w_p)
            else:
                for idx in range(len(grad_w)):
                    grad_w[idx] += grad_w_p[idx]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        # forward/grad pass #2
        outputs = _logits(net.forward(inputs[st:en])) / T
        loss = loss_fn(outputs, targets[st:en])
        grad_f = autograd.grad(loss, weights, create_graph=True, allow_unused=True)
        z, count = 0, 0
        for layer in net.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                if grad_w[count] is not None:
                    z += (grad_w[count].data * grad_f[count]).sum()
                count += 1
        z.backward()

    def grasp(layer):
        if layer.weight.grad is not None:
            return -layer.weight.data * layer.weight.grad
        return torch.zeros_like(layer.weight)

    return get_layer_metric_array(net, grasp, mode)


def _fisher_forward_conv2d(self, x):
    x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
    self.act = self.dummy(x)
    return self.act


def _fisher_forward_linear(self, x):
    x = F.linear(x, self.weight, self.bias)
    self.act = self.dummy(x)
    return self.act


def compute_fisher(net, inputs, targets, loss_fn, mode="channel", split_data=1):
    device = inputs.device
    if mode == "param":
        raise ValueError("Fisher pruning does not support parameter pruning.")
    net.train()
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.fisher = None
            layer.act = 0.0
            layer.dummy = nn.Identity()
            if isinstance(layer, nn.Conv2d):
                layer.forward = types.MethodType(_fisher_forward_conv2d, layer)
            if isinstance(layer, nn.Linear):
                layer.forward = types.MethodType(_fisher_forward_linear, layer)

            def hook_factory(layer):
                def hook(module, grad_input, grad_output):
                    act = layer.act.detach()
                    grad = grad_output[0].detach()
                    if len(act.shape) > 2:
                        g_nk = torch.sum((act * grad), list(range(2, len(act.shape))))
                    else:
                        g_nk = act * grad
                    del_k = g_nk.pow(2).mean(0).mul(0.5)
                    if layer.fisher is None:
                        layer.fisher = del_k
                    else:
                        layer.fisher += del_k
                    del layer.act

                return hook

            layer.dummy.register_backward_hook(hook_factory(layer))
    N = inputs.shape[0]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        net.zero_grad()
        outputs = _logits(net(inputs[st:en]))
        loss = loss_fn(outputs, targets[st:en])
        loss.backward()

    def fisher(layer):
        if layer.fisher is not None:
            return torch.abs(layer.fisher.detach())
        return torch.zeros(layer.weight.shape[0])

    grads_abs_ch = get_layer_metric_array(net, fisher, mode)
    shapes = get_layer_metric_array(net, lambda l: l.weight.shape[1:], mode)
    return reshape_elements(grads_abs_ch, shapes, device)


def _get_batch_jacobian(net, x, target, device, split_data):
    x.requires_grad_(True)
    N = x.shape[0]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        y = _logits(net(x[st:en]))
        y.backward(torch.ones_like(y))
    jacob = x.grad.detach()
    x.requires_grad_(False)
    return jacob, target.detach() if target is not None else None


def _jacob_eval_score(jacob, labels=None):
    corrs = np.corrcoef(jacob)
    v, _ = np.linalg.eig(corrs)
    k = 1e-5
    return -np.sum(np.log(v + k) + 1.0 / (v + k))


def compute_jacob_cov(net, inputs, targets, split_data=1, loss_fn=None):
    device = inputs.device
    net.zero_grad()
    jacobs, labels = _get_batch_jacobian(net, inputs, targets, device, split_data=split_data)
    jacobs = jacobs.reshape(jacobs.size(0), -1).cpu().numpy()
    try:
        jc = _jacob_eval_score(jacobs, labels)
    except Exception:  # upstream: print(e); jc = np.nan
        jc = np.nan
    return jc


def compute_plain(net, inputs, targets, loss_fn, mode="param", split_data=1):
    net.zero_grad()
    N = inputs.shape[0]
    for sp in range(split_data):
        st, en = sp * N // split_data, (sp + 1) * N // split_data
        outputs = _logits(net.forward(inputs[st:en]))
        loss = loss_fn(outputs, targets[st:en])
        loss.backward()

    def plain(layer):
        if layer.weight.grad is not None:
            return layer.weight.grad * layer.weight
        return torch.zeros_like(layer.weight)

    return get_layer_metric_array(net, plain, mode)


def compute_synflow(net, inputs, targets, mode="param", split_data=1, loss_fn=None):
    device = inputs.device

    @torch.no_grad()
    def linearize(net):
        signs = {}
        for name, param in net.state_dict().items():
            signs[name] = torch.sign(param)
            param.abs_()
        return signs

    @torch.no_grad()
    def nonlinearize(net, signs):
        for name, param in net.state_dict().items():
            if "weight_mask" not in name:
                param.mul_(signs[name])

    signs = linearize(net)
    net.zero_grad()
    net.double()
    input_dim = list(inputs[0, :].shape)
    inputs = torch.ones([1] + input_dim).double().to(device)
    output = _logits(net.forward(inputs))
    torch.sum(output).backward()

    def synflow(layer):
        if layer.weight.grad is not None:
            return torch.abs(layer.weight * layer.weight.grad)
        return torch.zeros_like(layer.weight)

    grads_abs = get_layer_metric_array(net, synflow, mode)
    nonlinearize(net, signs)
    return grads_abs


def get_l2_norm_array(net, inputs, targets, mode="param", split_data=1):
    return get_layer_metric_array(net, lambda l: l.weight.norm(), mode=mode)


# ---- uniform entry points: official_<proxy>(model, x, y, **opts) -> float ----------------

def _measure(fn, bn: bool, model, *args, **kwargs):
    """``measures.measure`` wrapper: run ``fn`` on ``get_prunable_copy(bn)``.

    Silences the warnings upstream triggers (torch's deprecation of the non-full backward
    hook used by fisher, numpy's divide-by-zero in corrcoef of a zero Jacobian)."""
    net = copynet(model, bn=bn)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", FutureWarning)
            return fn(net, *args, **kwargs)
    finally:
        del net


def official_grad_norm(model, x, y, split_data=1) -> float:
    return sum_arr(_measure(compute_grad_norm, True, model, x, y, F.cross_entropy, split_data=split_data))


def official_snip(model, x, y, split_data=1) -> float:
    return sum_arr(_measure(compute_snip, True, model, x, y, F.cross_entropy, split_data=split_data))


def official_grasp(model, x, y, split_data=1) -> float:
    return sum_arr(_measure(compute_grasp, True, model, x, y, F.cross_entropy, split_data=split_data))


def official_fisher(model, x, y, split_data=1) -> float:
    return sum_arr(_measure(compute_fisher, True, model, x, y, F.cross_entropy, split_data=split_data))


def official_plain(model, x, y, split_data=1) -> float:
    return sum_arr(_measure(compute_plain, True, model, x, y, F.cross_entropy, split_data=split_data))


def official_jacob_cov(model, x, y=None, split_data=1) -> float:
    return float(_measure(compute_jacob_cov, True, model, x.clone(), y, split_data=split_data))


def official_synflow(model, x, y=None) -> float:
    return sum_arr(_measure(compute_synflow, False, model, x, y))


def official_synflow_bn(model, x, y=None) -> float:
    return sum_arr(_measure(compute_synflow, True, model, x, y))


def official_l2_norm(model, x=None, y=None) -> float:
    # copy_net=False upstream: runs on the caller's network (it only reads weights)
    return sum_arr(get_l2_norm_array(model, x, y))


def official_params(model, x=None, y=None) -> float:
    """``p_utils.count_parameters``: trainable parameters, raw count."""
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))


def official_flops(model, x, y=None) -> float:
    """NB201's counter: xautodl ``utils.flop_benchmark.get_model_infos`` (MFLOPs) x 1e6, on a deep
    copy (it switches the model to eval mode and leaves it there; it also draws a random input
    from the global torch RNG)."""
    from xautodl.utils.flop_benchmark import get_model_infos

    mflops, _ = get_model_infos(copy.deepcopy(model), (1, *x.shape[1:]))
    return float(mflops) * 1e6


OFFICIAL = {
    "grad_norm": official_grad_norm,
    "snip": official_snip,
    "grasp": official_grasp,
    "fisher": official_fisher,
    "plain": official_plain,
    "jacob_cov": official_jacob_cov,
    "synflow": official_synflow,
    "synflow_bn": official_synflow_bn,
    "l2_norm": official_l2_norm,
    "params": official_params,
    "flops": official_flops,
}
