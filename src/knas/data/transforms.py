"""Batch transforms replacing torchvision's ``ToTensor + Normalize`` and
``RandomCrop(size, padding) + RandomHorizontalFlip`` (vectorised over a batch, no PIL).

Crops and flips act on the uint8 images before normalisation, so padded pixels are 0 in pixel
space exactly as with torchvision's ``RandomCrop(padding=p)`` (fill=0) on PIL images.
Random numbers come from an explicit CPU ``torch.Generator``: the same generator state gives the
same crops on CPU and CUDA. Deviation: torchvision draws per image from the global RNG (flip first,
then the crop offset); here a batch draws all row offsets, then all column offsets, then all flips —
same distribution, different stream.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` (or ``(C, H, W)``) -> float32 ``(x / 255 - mean) / std`` per channel.

    Same operation order as ``ToTensor`` then ``Normalize``.
    """
    if x.dtype != torch.uint8:
        raise ValueError(f"normalize expects uint8 images, got {x.dtype}")
    if x.dim() not in (3, 4) or x.shape[-3] != len(mean) or len(mean) != len(std):
        raise ValueError(f"normalize: images {tuple(x.shape)} do not match {len(mean)} mean / {len(std)} std values")
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)  # (C, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return x.float().div_(255).sub_(m).div_(s)  # in place on the fresh float copy


def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random ``H x W`` crop of each zero-padded image, plus a random horizontal flip if ``flip``.

    ``x``: ``(N, C, H, W)`` of any dtype and device; returns the same shape, dtype and device.
    Each image gets a top-left offset uniform in ``[0, 2 * padding]`` per axis and (if ``flip``)
    is mirrored with probability 1/2. ``padding=0, flip=False`` returns ``x`` unchanged.
    """
    if x.dim() != 4:
        raise ValueError(f"random_crop_flip expects (N, C, H, W), got shape {tuple(x.shape)}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    if generator is None or generator.device.type != "cpu":
        raise ValueError("random_crop_flip needs a CPU torch.Generator (for determinism across devices)")
    n, c, h, w = x.shape
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)  # (N,)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)  # (N,)
    mirror = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    if padding == 0 and not bool(mirror.any()):
        return x
    dev = x.device
    wp = w + 2 * padding
    xp = F.pad(x, (padding,) * 4) if padding else x  # (N, C, H+2p, W+2p), zeros outside
    rows = top.to(dev)[:, None] + torch.arange(h, device=dev)  # (N, H)
    cols = left.to(dev)[:, None] + torch.arange(w, device=dev)  # (N, W)
    cols = torch.where(mirror.to(dev)[:, None], cols.flip(1), cols)
    flat = (rows[:, :, None] * wp + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)  # (N, C, H*W)
    return torch.gather(xp.reshape(n, c, -1), 2, flat).view(n, c, h, w)  # (N, C, H, W)
