"""Mini-batches from a :class:`~knas.data.PreparedData`, without ``torch.utils.data``.

Everything random (shuffle order, crops, flips) comes from one explicit CPU ``torch.Generator``,
so a run is reproducible from its seed and independent of the device. Images stay uint8 until the
batch is on ``device``, where they are augmented and normalised (4x less host-device traffic).
"""
from __future__ import annotations

from typing import Iterator

import torch

from knas.utils import get_device

from .prepared import PreparedData
from .transforms import normalize, random_crop_flip


def iterate_batches(data: PreparedData, split: str, batch_size: int, *, shuffle: bool, augment: bool,
                    generator: torch.Generator | None = None, device: torch.device | str | None = None,
                    drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield normalised ``(x float32 (B, C, H, W), y int64 (B,))`` on ``device`` (default CPU;
    strings go through :func:`knas.utils.get_device`, so ``"auto"`` works).

    ``shuffle``: a random permutation of the split (``torch.randperm`` with ``generator``), else
    source order. ``augment``: the dataset's train augmentation (random crop with
    ``data.padding`` zero padding, horizontal flip if ``data.flip``). ``generator`` is required
    when ``shuffle`` or ``augment`` is set; the permutation is drawn when iteration starts, then
    each batch's crops. Bad arguments raise at the call, not at the first ``next()``.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if (shuffle or augment) and generator is None:
        raise ValueError("iterate_batches: shuffle/augment need an explicit torch.Generator (generator=...)")
    x, y = data.split(split)
    device = get_device(device) if isinstance(device, str) else (device or torch.device("cpu"))
    return _batches(data, x, y, batch_size, shuffle, augment, generator, device, drop_last)


def _batches(data, x, y, batch_size, shuffle, augment, generator, device, drop_last):
    n = len(y)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if drop_last and len(idx) < batch_size:
            break
        xb = x[idx].to(device)  # (B, C, H, W) uint8
        if augment:
            xb = random_crop_flip(xb, data.padding, data.flip, generator)
        yield normalize(xb, data.mean, data.std), y[idx].to(device)


def sample_batch(data: PreparedData, split: str, n: int, seed: int, augment: bool = False,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch for proxy scoring: ``n`` images drawn without replacement, seeded by ``seed``.

    Equals the first batch of ``iterate_batches(data, split, n, shuffle=True, augment=augment,
    generator=torch.Generator().manual_seed(seed))``, so the same seed gives the same images for
    every architecture.
    """
    size = data.size(split)
    if not isinstance(n, int) or not 1 <= n <= size:
        raise ValueError(f"sample_batch: n must be an int in [1, {size}] for split {split!r}, got {n!r}")
    return sample_batches(data, split, n, seed, 1, augment=augment, device=device)[0]


def sample_batches(data: PreparedData, split: str, n: int, seed: int, count: int, augment: bool = False,
                   device: torch.device | str | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` independent fixed batches of ``n`` images: the first ``count`` batches of one
    seeded shuffled pass (disjoint images; as TEG-NAS takes the first ``repeat`` batches of its
    shuffled loader). The first is :func:`sample_batch`'s batch for the same seed."""
    size = data.size(split)
    if not isinstance(n, int) or not 1 <= n <= size:
        raise ValueError(f"sample_batch: n must be an int in [1, {size}] for split {split!r}, got {n!r}")
    if not isinstance(count, int) or not 1 <= count <= size // n:
        raise ValueError(f"sample_batches: {count!r} independent batches of {n} images do not fit split {split!r} "
                         f"({size} images); allowed: 1 .. {size // n}")
    gen = torch.Generator().manual_seed(seed)
    it = iterate_batches(data, split, n, shuffle=True, augment=augment, generator=gen, device=device)
    return [next(it) for _ in range(count)]
