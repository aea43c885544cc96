"""Parameter and FLOP counts of any network, by the benchmarks' conventions (torch).

``count_params``: number of parameter elements (NB201's ``params_M`` = this / 1e6).
``count_flops``: FLOPs per sample measured with forward hooks: ``convention="nb201"`` is what
NB201 / NATS-Bench report (xautodl ``get_model_infos``: multiply-accumulates of Conv2d and Linear
layers, plus one per output element for a bias; BatchNorm, ReLU, pooling, additions 0);
``convention="torchstat"`` the tensorwatch/torchstat rules of NASLib's tables. Every space's
closed-form ``Space.cost`` equals these counts on its network.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def count_params(model: nn.Module) -> int:
    """Number of parameter elements (NB201 ``params_M`` = this / 1e6)."""
    return sum(p.numel() for p in model.parameters())


FLOP_CONVENTIONS = ("nb201", "torchstat")


def count_flops(
    model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32), convention: str = "nb201"
) -> int:
    """FLOPs per input sample, measured with forward hooks on one no-grad forward of a zero
    input of ``input_shape`` (on the model's device, in eval mode; the mode is restored).

    ``convention="nb201"`` (default): what NB201 reports (xautodl ``get_model_infos``):
    multiply-accumulates of Conv2d and Linear layers, plus one per output element for a bias.
    ``convention="torchstat"``: the tensorwatch/torchstat ``ModelStats.Flops`` rules used by
    NASLib's ``zc_nasbench201.json`` ``flops`` (Conv2d as above; Linear in*out without bias;
    ReLU 1 and BatchNorm 1 (2 if affine) per input element; Avg/MaxPool2d
    ``k*k * C_in * H_out * W_out``; AdaptiveAvg/MaxPool2d ``C * (bin_h+1) * (bin_w+1)`` per bin).
    """
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; allowed: {', '.join(FLOP_CONVENTIONS)}")
    if len(input_shape) != 4 or input_shape[0] < 1:
        raise ValueError(f"input_shape must be (batch>=1, channels, height, width), got {input_shape!r}")
    ts = convention == "torchstat"
    total = [0]

    def conv_hook(m: nn.Conv2d, inputs, out):
        kh, kw = m.kernel_size
        positions = out.shape[0] * out.shape[2] * out.shape[3]
        total[0] += kh * kw * m.in_channels * m.out_channels // m.groups * positions
        if m.bias is not None:
            total[0] += m.out_channels * positions

    def linear_hook(m: nn.Linear, inputs, out):
        rows = out.numel() // m.out_features
        total[0] += rows * m.in_features * m.out_features
        if m.bias is not None and not ts:
            total[0] += rows * m.out_features

    def relu_hook(m, inputs, out):
        total[0] += inputs[0].numel()

    def bn_hook(m, inputs, out):
        total[0] += inputs[0].numel() * (2 if m.affine else 1)

    def pool_hook(m, inputs, out):
        k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
        total[0] += k[0] * k[1] * inputs[0].shape[0] * inputs[0].shape[1] * out.shape[2] * out.shape[3]

    def adaptive_pool_hook(m, inputs, out):
        x = inputs[0]  # (B, C, H, W)
        H, W, oh, ow = x.shape[2], x.shape[3], out.shape[2], out.shape[3]
        bins = sum(
            ((-(-(i + 1) * H // oh)) - (i * H // oh) + 1) * ((-(-(j + 1) * W // ow)) - (j * W // ow) + 1)
            for i in range(oh)
            for j in range(ow)
        )
        total[0] += x.shape[0] * x.shape[1] * bins

    hooks: list[tuple[type | tuple[type, ...], object]] = [(nn.Conv2d, conv_hook), (nn.Linear, linear_hook)]
    if ts:
        hooks += [
            ((nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU), relu_hook),
            (nn.BatchNorm2d, bn_hook),
            ((nn.AvgPool2d, nn.MaxPool2d), pool_hook),
            ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), adaptive_pool_hook),
        ]
    handles = []
    for m in model.modules():
        for types, fn in hooks:
            if isinstance(m, types):
                handles.append(m.register_forward_hook(fn))
                break
    was_training = model.training
    try:
        ref = next(model.parameters(), None)
        device = ref.device if ref is not None else torch.device("cpu")
        dtype = ref.dtype if ref is not None else torch.float32
        model.eval()  # eval: BN running stats are not updated
        with torch.no_grad():
            model(torch.zeros(*input_shape, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0] // input_shape[0]
