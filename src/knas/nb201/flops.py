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

from knas.spaces.flops import FLOP_CONVENTIONS, count_flops, count_params  # noqa: F401  (one counter for all spaces)

from .space import parse, validate


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
