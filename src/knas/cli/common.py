"""Parent parsers shared by several commands, so a flag and its default are written once."""
from __future__ import annotations

import argparse
import json


def space_flags() -> argparse.ArgumentParser:
    """The search space (``space.name``) and its network options other than NB201's ``--C``/``--N``
    (``space.<option>``, e.g. ``{"stem_channels": 16}`` for nb101) as JSON."""
    from knas.spaces import names

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("space")
    g.add_argument("--space", default="nb201", choices=names(), help="search space (space.name; default nb201)")
    g.add_argument("--space-options", type=json.loads, default={},
                   help='JSON network options of the space, e.g. \'{"stem_channels": 16}\' (nb201: use --C/--N)')
    return p


def scoring_flags() -> argparse.ArgumentParser:
    """How an architecture is scored (``knas score``; ``knas search`` scoring on demand):
    network size, the scoring batches, augmentation, per-proxy options, the initialisation and
    the device, with :class:`knas.scoring.ScoringConfig`'s defaults. A study writes them in one
    place for both commands (:func:`knas.study.score_files.scoring_args`)."""
    from knas.proxies.registry import INITS
    from knas.scoring import ScoringConfig

    d = ScoringConfig()
    p = argparse.ArgumentParser(add_help=False, parents=[space_flags()])
    g = p.add_argument_group("scoring")
    g.add_argument("--C", type=int, default=d.C, help=f"NB201 channels of the first stage (default {d.C})")
    g.add_argument("--N", type=int, default=d.N, help=f"cells per stage (default {d.N})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"scoring batch (default {d.batch_size})")
    g.add_argument("--batch-seed", type=int, default=d.batch_seed, help=f"default {d.batch_seed}")
    g.add_argument("--init-seed", type=int, default=d.init_seed, help=f"default {d.init_seed}")
    g.add_argument("--init", default=d.init, choices=INITS,
                   help=f"initialisation of every scored network (scoring.init; default {d.init}: PyTorch's, as the "
                        "released code; kaiming_normal: the papers')")
    g.add_argument("--augment", action="store_true", help="train-time augmentation (crop + flip) on the scoring batch")
    g.add_argument("--options", type=json.loads, default={},
                   help='JSON per-proxy options (scoring.options), e.g. \'{"mgm": {"n": 50}}\'')
    g.add_argument("--batch-sizes", type=json.loads, default={},
                   help='JSON per-proxy batch sizes (scoring.batch_sizes), e.g. \'{"naswot": 128}\'; others: --batch-size')
    g.add_argument("--device", default=d.device, help=f"auto | cpu | cuda | cuda:N (default {d.device})")
    return p


def scoring_config(args: argparse.Namespace, **extra):
    """The :class:`knas.scoring.ScoringConfig` of parsed :func:`scoring_flags` (plus ``extra`` fields)."""
    from knas.scoring import ScoringConfig

    fields = dict(C=args.C, N=args.N, batch_size=args.batch_size, batch_seed=args.batch_seed,
                  init_seed=args.init_seed, init=args.init, augment=args.augment, options=args.options,
                  batch_sizes=args.batch_sizes, device=args.device, space=args.space,
                  space_options=args.space_options)
    return ScoringConfig(**{**fields, **extra})
