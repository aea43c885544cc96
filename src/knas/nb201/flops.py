"""Parameter and FLOP counts as NAS-Bench-201 reports them.

NB201's ``params`` is ``count_parameters_in_MB`` = number of parameters / 1e6 (all
parameters: conv, BN affine, linear). Its ``flops`` (xautodl ``utils/flop_benchmark.py``,
``get_model_infos``) are multiply-accumulates per image of ``nn.Conv2d`` and ``nn.Linear``
only, each plus one per output element when the layer has a bias; BatchNorm, ReLU,
pooling and additions count 0 (the pooling hooks are installed but never summed). This is
``convention="nb201"``; it reproduces the API's values (e.g. CIFAR-10 FLOPs range
7.78305..220.11969 M, ImageNet16-120 1.9534..55.03756 M).

Tables derived from NASLib (``zc_nasbench201.json``, key ``flops``) use a different count,
tensorwatch/torchstat ``ModelStats.Flops``, which also counts ReLU, BatchNorm and pooling and
drops the linear bias: ``convention="torchstat"`` reproduces those (1-40 % above NB201's).

:func:`count_flops` measures any model with forward hooks; :func:`nb201_cost` computes the
same numbers for an NB201 :class:`~knas.nb201.model.TinyNetwork` in closed form
(microseconds, no network built), for tables over many architectures.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .space import parse, validate


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


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def nb201_cost(
    arch: str,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    resolution: int | tuple[int, int] = 32,
    convention: str = "nb201",
) -> tuple[int, int]:
    """``(params, flops)`` of ``TinyNetwork(arch, C, N, num_classes)`` on ``resolution`` inputs,
    in closed form; equal to ``(count_params(net), count_flops(net, (1, 3, H, W), convention))``.

    Benchmark settings: cifar10(-valid) ``num_classes=10, resolution=32``; cifar100 ``100, 32``;
    ImageNet16-120 ``120, 16``. NB201 reports ``params / 1e6`` and ``flops / 1e6``.
    """
    if convention not in FLOP_CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; allowed: {', '.join(FLOP_CONVENTIONS)}")
    ops = parse(validate(arch))
    H, W = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
    for name, v in (("C", C), ("N", N), ("num_classes", num_classes), ("resolution", H), ("resolution", W)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    ts = convention == "torchstat"
    n1 = sum(op == "nor_conv_1x1" for op in ops)  # 1x1 ReLUConvBN per cell
    n3 = sum(op == "nor_conv_3x3" for op in ops)  # 3x3 ReLUConvBN per cell
    npool = sum(op == "avg_pool_3x3" for op in ops)

    def relu_conv_bn(c_in: int, c_out: int, k: int, h_in: int, w_in: int, h_out: int, w_out: int) -> int:
        f = k * k * c_in * c_out * h_out * w_out
        return f + (c_in * h_in * w_in + 2 * c_out * h_out * w_out if ts else 0)

    params = 27 * C + 2 * C  # stem conv + BN
    flops = 27 * C * H * W + (2 * C * H * W if ts else 0)
    c = C
    for stage in range(3):
        if stage > 0:  # ResNetBasicblock c -> 2c, stride 2
            co = 2 * c
            h2, w2 = _conv_out(H, 3, 2, 1), _conv_out(W, 3, 2, 1)
            hp, wp = H // 2, W // 2  # AvgPool2d(2, 2) on the shortcut
            if (h2, w2) != (hp, wp):
                raise ValueError(
                    f"resolution {resolution!r}: a {H}x{W} map cannot pass the stride-2 residual block "
                    "(odd size: conv and shortcut shapes differ); use sizes divisible by 4"
                )
            params += 9 * c * co + 2 * co + 9 * co * co + 2 * co + c * co
            flops += relu_conv_bn(c, co, 3, H, W, h2, w2) + relu_conv_bn(co, co, 3, h2, w2, h2, w2)
            flops += c * co * hp * wp + (4 * c * hp * wp if ts else 0)
            c, H, W = co, h2, w2
        params += N * (n1 * (c * c + 2 * c) + n3 * (9 * c * c + 2 * c))
        flops += N * (
            n1 * relu_conv_bn(c, c, 1, H, W, H, W) + n3 * relu_conv_bn(c, c, 3, H, W, H, W)
            + (npool * 9 * c * H * W if ts else 0)
        )
    params += 2 * c + c * num_classes + num_classes  # lastact BN + classifier
    if ts:  # lastact BN + ReLU, global pooling (one bin), linear without bias
        flops += 3 * c * H * W + c * (H + 1) * (W + 1) + c * num_classes
    else:
        flops += c * num_classes + num_classes
    return params, flops
