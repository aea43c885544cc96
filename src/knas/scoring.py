"""Score many architectures with many proxies (stage 3; ``knas score`` in :mod:`knas.cli.score`).

For each architecture the network is built under ``init_seed`` (the same seed for every
architecture, so a score does not depend on the order or the shard it is computed in), initialised
as ``init`` says (:func:`knas.proxies.initialise`), moved to the device, and the requested proxies
are computed on fixed batches: one per distinct batch size (a proxy's is ``batch_sizes[proxy]``,
else ``batch_size``; NASWOT 128, TEG-NAS 64, KNAS 50), through one :class:`knas.proxies.Context`
per batch size, so proxies with the same batch that need the same pass (per-example gradients,
the NTK Jacobian, hooked activations) share it. The first proxy that needs a shared pass pays for
it in its ``__seconds`` column. A proxy with option ``batches`` (TEG-NAS's indicators) is the
mean over that many independent batches: the first ``batches`` batches of one seeded shuffled
pass (:func:`knas.data.sample_batches`), the first being the batch of the others.

Output: one row per architecture — ``arch_id``, ``arch``, then for each proxy ``<proxy>``
(value), ``<proxy>__flag`` (None, ``"nan"``, ``"sentinel"``, ``"degenerate"``) and
``<proxy>__seconds``.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd
import torch

from knas import proxies as P
from knas.proxies.base import is_cuda_oom

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringConfig:
    """How architectures are scored (all proxies share one batch and one initialisation seed)."""

    C: int = 16  # NB201 channels of the first stage
    N: int = 5  # cells per stage
    space: str = "nb201"  # space.name: whose networks are built (knas.spaces)
    space_options: dict = field(default_factory=dict)  # network options of other spaces (nb101: stem_channels, ...)
    batch_size: int = 64  # images in the scoring batch (zero-cost / TEG use 64)
    batch_seed: int = 0  # which images (same for every architecture)
    split: str = "train"  # split the scoring batch is drawn from
    val_split: str = "valid"  # split of the second batch (ntk_mse)
    augment: bool = False  # train augmentation on the scoring batch
    init_seed: int = 0  # torch seed before building each network
    device: str = "auto"
    options: dict = field(default_factory=dict)  # per-proxy options, e.g. {"mgm": {"n": 50}}
    batch_sizes: dict = field(default_factory=dict)  # per-proxy batch sizes, e.g. {"naswot": 128}
    init: str = "default"  # "default" (PyTorch's, as the released code) | "kaiming_normal" (the papers')

    def batch_size_of(self, proxy: str) -> int:
        """The batch ``proxy`` is scored on: ``batch_sizes[proxy]``, else ``batch_size``."""
        return int(self.batch_sizes.get(proxy, self.batch_size))

    def for_proxies(self, names) -> "ScoringConfig":
        """This config restricted to ``names`` (options and batch sizes of the others dropped):
        the study's config scores any subset of its proxies exactly as the study does."""
        from dataclasses import replace

        keep = set(names)
        return replace(self, options={k: v for k, v in self.options.items() if k in keep},
                       batch_sizes={k: v for k, v in self.batch_sizes.items() if k in keep})


def make_batch(data, cfg: ScoringConfig, device: torch.device, need_val: bool, size: int | None = None,
               count: int = 1) -> P.ProxyBatch:
    """The scoring batch of ``size`` images (default ``cfg.batch_size``; with a validation batch of
    the same size for ``ntk_mse``), with ``count - 1`` further independent ones in ``.more``."""
    from knas.data import sample_batches

    size = cfg.batch_size if size is None else size
    train = sample_batches(data, cfg.split, size, cfg.batch_seed, count, augment=cfg.augment, device=device)
    val = (sample_batches(data, cfg.val_split, size, cfg.batch_seed + 1, count, device=device) if need_val
           else [(None, None)] * count)
    batches = [P.ProxyBatch(x, y, data.num_classes, xv, yv) for (x, y), (xv, yv) in zip(train, val)]
    batches[0].more = tuple(batches[1:])
    return batches[0]


def shard_slice(n: int, shard: int, num_shards: int) -> slice:
    """Contiguous slice of ``range(n)`` for shard ``shard`` of ``num_shards`` (0-based)."""
    if not (isinstance(num_shards, int) and num_shards >= 1 and 0 <= shard < num_shards):
        raise ValueError(f"shard {shard}/{num_shards}: need 0 <= shard < num_shards")
    return slice(n * shard // num_shards, n * (shard + 1) // num_shards)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``."""
    try:
        i, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    shard_slice(0, i, n)
    return i, n


def _partial_key(archs: Sequence[str], proxy_names: Sequence[str], cfg: ScoringConfig, data_id: str) -> str:
    """What the rows of a partial table depend on: a rerun resumes only from an identical key."""
    import hashlib
    import json

    from knas import __version__

    what = {"archs": list(archs), "proxies": list(proxy_names), "cfg": asdict(cfg), "data": data_id,
            "knas": __version__, "torch": torch.__version__}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_partial(path, key: str) -> list[dict]:
    """Rows of a partial table written under ``key`` (none when absent, unreadable or stale)."""
    from knas.utils import read_table

    try:
        t = read_table(path)
    except (OSError, ValueError, ImportError) as err:  # absent, or truncated by a crash
        if os.path.exists(path):
            log.warning("ignoring unreadable partial scores %s: %s", path, err)
        return []
    if "__key" not in t.columns or not (t["__key"] == key).all():
        log.warning("ignoring partial scores %s: written for other archs, proxies, options or data", path)
        return []
    return t.drop(columns="__key").to_dict("records")


def _write_partial(path, rows: list[dict], key: str) -> None:
    """Replace the partial table (atomically: a crash mid-write leaves the previous one)."""
    from knas.utils import write_table

    write_table(path, pd.DataFrame(rows).assign(__key=key))


def _progress_line(done: int, total: int, resumed: int, elapsed: float) -> str:
    new = done - resumed
    rate = elapsed / new if new else float("nan")
    eta = rate * (total - done)
    return (f"[knas score] {done}/{total} architectures ({resumed} resumed), {elapsed:.2f} s, "
            f"{rate:.3f} s/arch, ETA {eta:.0f} s")


def score_architectures(
    archs: Sequence[str],
    proxy_names: Sequence[str],
    data,
    cfg: ScoringConfig = ScoringConfig(),
    progress: bool | None = None,
    *,
    partial: str | os.PathLike | None = None,
    data_id: str = "",
    checkpoint_seconds: float = 60.0,
    progress_seconds: float = 60.0,
) -> pd.DataFrame:
    """Score ``archs`` with ``proxy_names`` on a fixed batch of ``data`` (a PreparedData).

    Progress goes to stderr: every architecture when ``progress`` (default: on a terminal), else
    at every tenth of the list and at least every ``progress_seconds`` (archs done, s/arch, ETA).

    ``partial``: a file (.parquet/.csv) the rows scored so far are written to, at most every
    ``checkpoint_seconds`` and whenever scoring stops on an error; a rerun with the same archs,
    proxies, config and ``data_id`` (e.g. the data file's size and mtime) resumes after those
    rows, and the file is removed once the table is complete. A CUDA out-of-memory error that
    escapes a proxy's own chunking (:func:`knas.proxies.base.run_chunked`) frees the
    architecture's network and cached passes and retries it once before stopping.
    """
    from knas.spaces import get_space
    from knas.utils import get_device

    specs = [P.get(name) for name in proxy_names]  # unknown names fail here, before any work
    for what in ("options", "batch_sizes"):
        unknown = set(getattr(cfg, what)) - set(proxy_names)
        if unknown:
            raise ValueError(f"{what} given for proxies not being scored: {sorted(unknown)}")
    P.initialise(torch.nn.Identity(), cfg.init)  # an unknown init fails here
    device = get_device(cfg.device)
    space = get_space(cfg.space)
    net_options = space.options(**({"C": cfg.C, "N": cfg.N} if cfg.space == "nb201" else {}), **cfg.space_options)
    by_size: dict[int, list] = {}  # batch size -> the specs scored on it (one Context each)
    for s in specs:
        by_size.setdefault(cfg.batch_size_of(s.name), []).append(s)
    batches = {}
    for size, group in by_size.items():
        count = max(s.check_options(cfg.options.get(s.name, {})).get("batches", 1) for s in group)
        batches[size] = make_batch(data, cfg, device, need_val=any(s.needs_val for s in group), size=size,
                                   count=count)
    if progress is None:
        progress = sys.stderr.isatty()
    key = _partial_key(archs, proxy_names, cfg, data_id) if partial is not None else ""
    rows = _read_partial(partial, key) if partial is not None else []
    resumed = len(rows)
    if resumed:
        print(f"[knas score] resuming after {resumed} architectures from {partial}", file=sys.stderr, flush=True)

    def score_one(arch: str, first: bool) -> dict:
        any_batch = next(iter(batches.values()))
        net = space.build_network(arch, num_classes=data.num_classes, input_size=any_batch.x.shape[-1],
                                  seed=cfg.init_seed, **net_options)
        net = P.initialise(net, cfg.init).to(device)  # draws after the build, under the same seed
        if first:
            P.check_batch(net, any_batch)
        ctxs = {size: P.Context(net, b, seed=cfg.init_seed, planned=[s.name for s in by_size[size]], init=cfg.init)
                for size, b in batches.items()}
        row = {"arch_id": space.index_of(arch), "arch": arch}
        for spec in specs:
            size = cfg.batch_size_of(spec.name)
            t0 = time.perf_counter()
            res = P.compute(spec.name, net, batches[size], ctxs[size], **cfg.options.get(spec.name, {}))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            row[spec.name] = res.value
            row[f"{spec.name}__flag"] = res.flag
            row[f"{spec.name}__seconds"] = time.perf_counter() - t0
        return row

    t_start = t_saved = t_said = time.perf_counter()
    step = max(1, len(archs) // 10)
    try:
        for i in range(resumed, len(archs)):
            try:
                row = score_one(archs[i], first=i == resumed)
            except RuntimeError as err:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_cuda_oom(err):
                    raise
                log.warning("CUDA out of memory on %s; freeing the cache and retrying it once", archs[i])
                del err
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                row = score_one(archs[i], first=i == resumed)
            rows.append(row)
            done, now = i + 1, time.perf_counter()
            if partial is not None and done < len(archs) and now - t_saved >= checkpoint_seconds:
                _write_partial(partial, rows, key)
                t_saved = now
            if progress or done == len(archs) or done % step == 0 or now - t_said >= progress_seconds:
                print(_progress_line(done, len(archs), resumed, now - t_start), file=sys.stderr, flush=True)
                t_said = now
    except BaseException:
        if partial is not None and len(rows) > resumed:
            _write_partial(partial, rows, key)
            print(f"[knas score] stopped after {len(rows)}/{len(archs)} architectures; they are kept in "
                  f"{partial} for the rerun", file=sys.stderr, flush=True)
        raise
    # an empty shard (more shards than architectures) is an empty table with every column
    columns = ["arch_id", "arch"] + [f"{s.name}{suffix}" for s in specs for suffix in ("", "__flag", "__seconds")]
    table = pd.DataFrame(rows, columns=columns)
    table["arch_id"] = table["arch_id"].astype("int64")
    for spec in specs:  # a column of flags that are all None is still an object column
        table[f"{spec.name}__flag"] = table[f"{spec.name}__flag"].astype(object)
        table[[spec.name, f"{spec.name}__seconds"]] = table[[spec.name, f"{spec.name}__seconds"]].astype("float64")
    if partial is not None and os.path.exists(partial):
        os.remove(partial)
    return table


def proxy_table(table: pd.DataFrame, proxy: str) -> pd.DataFrame:
    """The columns of one proxy (with ``arch_id``, ``arch``) of a :func:`score_architectures` table."""
    return table[["arch_id", "arch", proxy, f"{proxy}__flag", f"{proxy}__seconds"]]


def merge_score_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Merge per-(proxy, shard) tables into one wide table, one row per architecture.

    Shards of the same proxy are stacked; different proxies are joined on ``arch_id``.
    """
    by_cols: dict[tuple, list[pd.DataFrame]] = {}
    for t in tables:
        by_cols.setdefault(tuple(t.columns), []).append(t)
    merged = None
    for parts in by_cols.values():
        stacked = pd.concat(parts, ignore_index=True)
        if stacked["arch_id"].duplicated().any():
            dup = stacked.loc[stacked["arch_id"].duplicated(), "arch_id"].tolist()[:5]
            raise ValueError(f"architectures scored twice for the same proxies: {dup}")
        merged = stacked if merged is None else merged.merge(stacked, on=["arch_id", "arch"], how="outer")
    if merged is None:
        raise ValueError("no score tables to merge")
    return merged.sort_values("arch_id", kind="stable").reset_index(drop=True)
