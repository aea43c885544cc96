"""Named NB201 cells and the one batch helper of the proxy tests (one definition each)."""
import torch

from knas.proxies.base import ProxyBatch

# conv + pool + skip: the sample cell of NB201's README
A_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
# convs and pools only (zero-cost tests)
A_CONV_POOL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|avg_pool_3x3~2|"
# every op kind, one none edge
A_MIX = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
A_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
A_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# disconnected: node 3 (the output) is cut off, three different sets of ops before it
A_DISC = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"
A_DISC_1X1 = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"
A_DISC_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
# connected, but every input-output path has a none edge
A_DISC_PATH = "|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|skip_connect~2|"
# node 1's conv feeds only none edges
A_CUT = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"


def make_batch(n=12, k=10, hw=32, seed=1, dtype=torch.float32, m=0):
    """Seeded random images ``(n, 3, hw, hw)`` and labels in ``0..k-1``; with ``m > 0`` also a
    held-out batch of ``m`` (drawn after the images, before the labels)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, hw, hw, generator=g).to(dtype)
    if not m:
        return ProxyBatch(x, torch.randint(0, k, (n,), generator=g), k)
    xv = torch.randn(m, 3, hw, hw, generator=g).to(dtype)
    y = torch.randint(0, k, (n,), generator=g)
    return ProxyBatch(x, y, k, xv, torch.randint(0, k, (m,), generator=g))
