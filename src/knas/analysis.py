"""How well do training-free scores rank architectures? Correlations with seeded bootstrap
intervals, KNAS's repeated-sampling study, KNAS Fig. 1 rank groups, and top-k / best-of-N / random picks
(the study's ``select`` stage).

Tables
------
* SCORE table, one row per architecture: ``arch_id``, optionally ``arch``, one column per proxy
  (its value), and optionally ``<proxy>__flag`` (None / ``"nan"`` / ``"sentinel"`` /
  ``"degenerate"``) and ``<proxy>__seconds`` (time to score that architecture).
* TRUTH table, one row per architecture: ``arch_id``, optionally ``arch``, and metric columns
  (``valid_acc``, ``test_acc``, ``valid_acc_12ep``, ``test_acc_12ep``, ``train_loss``, ...), NaN
  where unknown. The derived metric ``neg_train_loss`` is ``-train_loss``.

Valid scores
------------
A score is used only when it is finite and its flag is neither ``"nan"`` nor ``"sentinel"``:
a sentinel (e.g. TE-NAS's 1e5 for a NaN condition number) is a placeholder, not a measurement.
``"degenerate"`` values (finite, input-independent, e.g. on a disconnected cell) are the
proxy's real output by its definition and are kept. A sentinel written *without* its flag cannot
be recognised here; the scoring stage must write the flag.

Orientation
-----------
Every coefficient is oriented so that positive means "the proxy ranks good architectures high":
scores of lower-is-better proxies are multiplied by -1 before any statistic (column
``oriented`` is True for those). Directions come from the proxy registry
(``knas.proxies``) unless a ``directions`` mapping ``{proxy: higher_is_better}`` is given.

Bootstrap
---------
A resample of n pairs drawn with replacement is represented by its multiplicities ``w`` (how
often each pair was drawn). Spearman's rho and Kendall's tau-b (the coefficients
``scipy.stats.spearmanr`` / ``kendalltau`` compute on the resampled arrays, with average ranks
and tie corrections) are evaluated from ``w`` directly: ranks by a cumulative sum over the
once-sorted data, tau-b's concordance sum by a merge-tree whose structure depends only on the
data, so a batch of B resamples costs O(B n log n) in vectorised numpy instead of B sorts.
The same routines give the coefficients of subsamples without replacement (0/1 weights),
which is how :func:`repeated_sampling` is computed.
"""
from __future__ import annotations

import warnings
import zlib
from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

# scipy.stats is imported where it is used: the workflow's parse (knas.config reads MIN_PAIRS)
# would otherwise pay for it on every Snakemake start

from knas.selection import first_best

KNOWN_FLAGS = ("nan", "sentinel", "degenerate")
EXCLUDED_FLAGS = ("nan", "sentinel")
NEG_TRAIN_LOSS = "neg_train_loss"
DEFAULT_METRICS = ("valid_acc", "test_acc", "valid_acc_12ep", "test_acc_12ep")
COEFFICIENTS = ("spearman", "kendall", "pearson")
MIN_PAIRS = 3  # fewer pairs than this: every coefficient is NaN

_ID = "arch_id"
_SUFFIXES = ("__flag", "__seconds")
_CHUNK_ELEMS = 1 << 20  # resample rows per vectorised batch: about this many (B, n) elements


# --------------------------------------------------------------------------------------------
# Table access


def _check_table(df: pd.DataFrame, what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} table must be a pandas DataFrame, got {type(df).__name__}")
    if _ID not in df.columns:
        raise ValueError(f"{what} table has no {_ID!r} column; columns: {list(df.columns)}")
    dup = df[_ID][df[_ID].duplicated()]
    if len(dup):
        raise ValueError(f"{what} table has duplicated {_ID} values, e.g. {dup.iloc[:5].tolist()}")


def proxy_columns(scores: pd.DataFrame) -> list[str]:
    """The proxy value columns of a SCORE table (not ids, flags or timings), in table order."""
    return [
        c
        for c in scores.columns
        if c not in (_ID, "arch") and not any(str(c).endswith(s) for s in _SUFFIXES)
    ]


def _check_proxies(scores: pd.DataFrame, proxies: Sequence[str] | str | None) -> list[str]:
    available = proxy_columns(scores)
    if proxies is None:
        proxies = available
    elif isinstance(proxies, str):
        proxies = [proxies]
    proxies = list(dict.fromkeys(proxies))
    missing = [p for p in proxies if p not in available]
    if missing:
        raise ValueError(f"proxy column(s) {missing} not in the score table; available: {available}")
    if not proxies:
        raise ValueError("no proxy columns to analyse")
    return proxies


def direction_of(proxy: str, directions: Mapping[str, bool] | None = None) -> bool:
    """``higher_is_better`` of ``proxy``: from ``directions`` if it names it, else the registry
    (per-architecture proxies and combined scores such as TEG)."""
    if directions is not None and proxy in directions:
        return bool(directions[proxy])
    from knas import proxies as registry

    cat = registry.catalog()  # the declarations, without importing the proxies (torch)
    if proxy in cat:
        return cat[proxy].higher_is_better
    known = sorted(cat)
    raise ValueError(
        f"no direction for proxy {proxy!r}: pass directions={{{proxy!r}: True/False}} or use a "
        f"registered proxy; registered: {', '.join(known) or 'none'}"
    )


def _is_missing(flag) -> bool:
    """No flag: None, a missing value (NaN/pd.NA, as a table reader writes None) or ""."""
    return flag is None or flag == "" or (not isinstance(flag, str) and bool(pd.isna(flag)))


def valid_mask(scores: pd.DataFrame, proxy: str) -> np.ndarray:
    """Boolean mask (n_rows,) of usable scores: finite and not flagged ``nan``/``sentinel``."""
    try:
        values = pd.to_numeric(scores[proxy], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as err:
        raise ValueError(f"proxy column {proxy!r} is not numeric: {err}") from err
    ok = np.isfinite(values)
    flag_col = f"{proxy}__flag"
    if flag_col in scores.columns:
        flags = [None if _is_missing(f) else str(f) for f in scores[flag_col]]
        unknown = sorted({f for f in flags if f is not None and f not in KNOWN_FLAGS})
        if unknown:
            raise ValueError(
                f"column {flag_col!r} has unknown flag(s) {unknown}; allowed: None, {', '.join(KNOWN_FLAGS)}"
            )
        ok &= ~np.isin(np.array(flags, dtype=object), EXCLUDED_FLAGS)
    return ok


def metric_values(truth: pd.DataFrame, metric: str, arch_ids) -> np.ndarray:
    """Values (len(arch_ids),) of ``metric`` for ``arch_ids``; NaN where unknown or absent.

    ``neg_train_loss`` is ``-train_loss``.
    """
    column, sign = (("train_loss", -1.0) if metric == NEG_TRAIN_LOSS else (metric, 1.0))
    allowed = [c for c in truth.columns if c not in (_ID, "arch")]
    if "train_loss" in truth.columns:
        allowed.append(NEG_TRAIN_LOSS)
    if column not in truth.columns or column in (_ID, "arch"):
        raise ValueError(f"unknown metric {metric!r}; the truth table has: {allowed}")
    col = truth.set_index(_ID)[column]
    try:
        col = pd.to_numeric(col, errors="raise").astype(float)
    except (ValueError, TypeError) as err:
        raise ValueError(f"metric column {column!r} is not numeric: {err}") from err
    return sign * col.reindex(pd.Index(arch_ids)).to_numpy(dtype=float)


def _check_arch_match(scores: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Both tables name architectures: the same arch_id must be the same architecture."""
    if "arch" not in scores.columns or "arch" not in truth.columns:
        return
    t = truth.set_index(_ID)["arch"].reindex(pd.Index(scores[_ID]))
    s = scores["arch"].to_numpy(dtype=object)
    both = pd.notna(t.to_numpy()) & pd.notna(s)
    bad = both & (t.to_numpy(dtype=object) != s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"score and truth tables disagree on arch_id {scores[_ID].iloc[i]!r}: "
            f"{s[i]!r} vs {t.iloc[i]!r} ({int(bad.sum())} mismatches)"
        )


def _resolve_metrics(truth: pd.DataFrame, metrics, with_neg_train_loss: bool) -> list[str]:
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if m in truth.columns]
    elif isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(dict.fromkeys(metrics))
    if (
        with_neg_train_loss
        and NEG_TRAIN_LOSS not in metrics
        and "train_loss" in truth.columns
        and pd.to_numeric(truth["train_loss"], errors="coerce").notna().any()
    ):
        metrics.append(NEG_TRAIN_LOSS)
    if not metrics:
        raise ValueError(f"no metrics to correlate with; truth columns: {list(truth.columns)}")
    for m in metrics:  # unknown names fail here, before any work
        metric_values(truth, m, [])
    return metrics


def _rng_for(seed: int, *names: str) -> np.random.Generator:
    """Generator for one (seed, names) cell: independent of which other cells are computed."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r}: must be a non-negative integer")
    return np.random.default_rng([int(seed), *(zlib.crc32(n.encode()) for n in names)])


# --------------------------------------------------------------------------------------------
# Weighted (multiplicity) rank statistics, vectorised over resamples


def _groups(v: np.ndarray):
    """Sort order, group starts (in sorted order) and group id per element of ties in ``v``."""
    order = np.argsort(v, kind="stable")
    sv = v[order]
    new = np.ones(len(v), dtype=bool)
    new[1:] = sv[1:] != sv[:-1]
    gid = np.empty(len(v), dtype=np.intp)
    gid[order] = np.cumsum(new) - 1
    return order, np.flatnonzero(new), gid


def _group_sums(A: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Row sums of A (n, B) over consecutive groups beginning at ``starts``: (G, B)."""
    return A if len(starts) == A.shape[0] else np.add.reduceat(A, starts, axis=0)


def _weighted_ranks(Wt: np.ndarray, grp) -> np.ndarray:
    """Average ranks (n, B) each point would get in the samples with multiplicities Wt (n, B)."""
    order, starts, gid = grp
    T = _group_sums(Wt[order], starts)  # (G, B) sample size of each tie group
    r = np.cumsum(T, axis=0)
    r -= (T - 1.0) / 2.0  # (G, B) average rank of the group
    return r[gid]  # (n, B)


# The plans below take multiplicities point-major, Wt (n, B): gathers of whole rows are cheap.


class _SpearmanPlan:
    """Spearman's rho of samples given by multiplicities, for fixed data ``x``, ``y``."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.gx, self.gy = _groups(x), _groups(y)

    def __call__(self, Wt: np.ndarray) -> np.ndarray:  # Wt (n, B) -> (B,)
        N = Wt.sum(axis=0)  # (B,)
        m = (N + 1.0) / 2.0  # mean of average ranks
        dx = _weighted_ranks(Wt, self.gx)
        dx -= m  # (n, B)
        dy = _weighted_ranks(Wt, self.gy)
        dy -= m
        wdx = Wt * dx
        cov = np.einsum("ib,ib->b", wdx, dy)
        var = np.einsum("ib,ib->b", wdx, dx) * np.einsum("ib,ib->b", Wt * dy, dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = cov / np.sqrt(var)
        rho[(var <= 0) | (N < 2)] = np.nan
        return np.clip(rho, -1.0, 1.0)


class _KendallPlan:
    """Kendall's tau-b of samples given by multiplicities, for fixed data ``x``, ``y``.

    Points are sorted by (x, y). The concordance sum over position pairs p < q,
    sum w_p w_q sgn(y_q - y_p), is split by the merge tree of positions: at each level a pair
    lies in the left/right halves of one segment. For every right-half point the weights of the
    left half with smaller / equal y are differences of one cumulative sum over the left half in
    y order, and those positions are precomputed here (they do not depend on the weights).
    Pairs tied in x (ordered by y, so counted +1 when y differs) are subtracted afterwards.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        from scipy import stats

        xr = stats.rankdata(x, method="dense").astype(np.int64) - 1
        yr = stats.rankdata(y, method="dense").astype(np.int64) - 1
        self.order = np.lexsort((yr, xr))  # sort by x, then y
        xs, ys = xr[self.order], yr[self.order]
        n = len(xs)
        new_x = np.ones(n, dtype=bool)
        new_x[1:] = xs[1:] != xs[:-1]
        new_xy = new_x.copy()
        new_xy[1:] |= ys[1:] != ys[:-1]
        self.starts_x, self.starts_xy = np.flatnonzero(new_x), np.flatnonzero(new_xy)
        self.gy = _groups(yr)
        K = int(ys.max()) + 1 if n else 1
        pos = np.arange(n)
        self.levels = []
        h = 1
        while h < n:
            seg, in_left = pos // (2 * h), (pos % (2 * h)) < h
            L, R = pos[in_left], pos[~in_left]
            key_l = seg[L] * K + ys[L]
            o = np.argsort(key_l, kind="stable")
            perm_l, key_l = L[o], key_l[o]
            key_r, base = seg[R] * K + ys[R], seg[R] * K
            idx = np.stack(
                [
                    np.searchsorted(key_l, key_r, "left"),  # end of y < y_q
                    np.searchsorted(key_l, key_r, "right"),  # end of y <= y_q
                    np.searchsorted(key_l, base + K, "left"),  # end of the left half
                    np.searchsorted(key_l, base, "left"),  # start of the left half
                ]
            )  # (4, |R|) positions into the cumulative sum
            self.levels.append((perm_l, R, idx))
            h *= 2

    def __call__(self, Wt: np.ndarray) -> np.ndarray:  # Wt (n, B) -> (B,)
        Wo = Wt[self.order]  # (n, B) in (x, y) order
        B = Wo.shape[1]
        S = np.zeros(B)
        for perm_l, R, idx in self.levels:
            C = np.zeros((len(perm_l) + 1, B))
            np.cumsum(Wo[perm_l], axis=0, out=C[1:])
            # (#less - #greater) of left-half weights = C_lt + C_le - C_end - C_start
            d = C[idx[0]]
            d += C[idx[1]]
            d -= C[idx[2]]
            d -= C[idx[3]]  # (|R|, B)
            S += np.einsum("qb,qb->b", Wo[R], d)
        Tx = _group_sums(Wo, self.starts_x)  # (Gx, B) x-tie group sizes
        if len(self.starts_x) < len(self.starts_xy):  # some x-tied pairs differ in y
            Uxy = _group_sums(Wo, self.starts_xy)  # (Gxy, B) joint-tie group sizes
            S -= 0.5 * (np.einsum("gb,gb->b", Tx, Tx) - np.einsum("gb,gb->b", Uxy, Uxy))  # count 0, not +1
        Ty = _group_sums(Wt[self.gy[0]], self.gy[1])  # (Gy, B)
        N = Wt.sum(axis=0)
        pairs = N * (N - 1.0) / 2.0
        den = (pairs - (Tx * (Tx - 1.0)).sum(axis=0) / 2.0) * (pairs - (Ty * (Ty - 1.0)).sum(axis=0) / 2.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = S / np.sqrt(den)
        tau[den <= 0] = np.nan
        return np.clip(tau, -1.0, 1.0)


def _chunk_rows(n: int) -> int:
    return max(1, _CHUNK_ELEMS // max(n, 1))


def _apply_chunked(plans, W: np.ndarray) -> list[np.ndarray]:
    """Each plan applied to the samples (rows) of W (B, n), in chunks to bound memory."""
    step = _chunk_rows(W.shape[1])
    outs = [[] for _ in plans]
    for s in range(0, W.shape[0], step):
        Wt = np.ascontiguousarray(W[s : s + step].T)  # (n, b)
        for out, plan in zip(outs, plans):
            out.append(plan(Wt))
    return [np.concatenate(o) if o else np.empty(0) for o in outs]


def bootstrap_rank_correlations(
    x: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Spearman and Kendall tau-b of ``n_boot`` resamples (pairs with replacement): two (n_boot,).

    Resample ``b`` is ``idx = rng.integers(0, n, n)``, drawn in row batches whose size depends
    only on n; its coefficients equal scipy's on ``x[idx], y[idx]`` (NaN if a resample is
    constant in x or y).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    sp, kt = _SpearmanPlan(x, y), _KendallPlan(x, y)
    step = _chunk_rows(n)
    rho, tau = [], []
    for s in range(0, n_boot, step):
        b = min(step, n_boot - s)
        idx = rng.integers(0, n, size=(b, n))  # (b, n)
        Wt = np.bincount((idx * b + np.arange(b)[:, None]).ravel(), minlength=n * b)
        Wt = Wt.reshape(n, b).astype(float)  # (n, b) multiplicity of point i in resample j
        rho.append(sp(Wt))
        tau.append(kt(Wt))
    if not rho:
        return np.empty(0), np.empty(0)
    return np.concatenate(rho), np.concatenate(tau)


# --------------------------------------------------------------------------------------------
# Correlations


def _point_stats(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """scipy's coefficients and p-values; NaN for fewer than MIN_PAIRS pairs or constant input."""
    out = dict.fromkeys(
        ["spearman", "spearman_p", "kendall", "kendall_p", "pearson", "pearson_p"], float("nan")
    )
    if len(x) < MIN_PAIRS or np.all(x == x[0]) or np.all(y == y[0]):
        return out
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input warnings: the values are still defined
        sr = stats.spearmanr(x, y)
        kr = stats.kendalltau(x, y)
        pr = stats.pearsonr(x, y)
    out.update(
        spearman=float(sr.statistic), spearman_p=float(sr.pvalue),
        kendall=float(kr.statistic), kendall_p=float(kr.pvalue),
        pearson=float(pr.statistic), pearson_p=float(pr.pvalue),
    )  # fmt: skip
    return out


def _pairs(scores, truth, proxy, metric, directions):
    """Oriented proxy values, metric values and counts for one (proxy, metric)."""
    hib = direction_of(proxy, directions)
    sign = 1.0 if hib else -1.0
    x_all = pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)
    y_all = metric_values(truth, metric, scores[_ID])
    known = np.isfinite(y_all)
    use = known & valid_mask(scores, proxy)
    info = dict(
        proxy=proxy, metric=metric, higher_is_better=hib, oriented=not hib,
        n=int(use.sum()), n_excluded=int((known & ~use).sum()), n_no_metric=int((~known).sum()),
    )  # fmt: skip
    return sign * x_all[use], y_all[use], use, info


def correlations(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    proxies: Sequence[str] | str | None = None,
    metrics: Sequence[str] | str | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    directions: Mapping[str, bool] | None = None,
    neg_train_loss: bool = True,
) -> pd.DataFrame:
    """Rank and linear correlations of proxies with ground-truth metrics, one row per pair.

    Args:
        scores, truth: SCORE and TRUTH tables (module docstring), matched on ``arch_id``.
        proxies: proxy columns (default: all value columns of ``scores``).
        metrics: truth columns (default: those of ``DEFAULT_METRICS`` present). When
            ``neg_train_loss`` and ``truth.train_loss`` has known values, ``"neg_train_loss"``
            is appended.
        n_boot: bootstrap resamples for the ``ci`` percentile intervals (0: no intervals).
        seed: the bootstrap of pair (proxy, metric) uses a generator seeded by
            (seed, proxy, metric), so it does not depend on which other pairs are computed.
        directions: ``{proxy: higher_is_better}``; proxies it omits use the registry.

    Returns:
        DataFrame with columns proxy, metric, higher_is_better, oriented (True: the proxy was
        multiplied by -1), n (pairs used), n_excluded (metric known but score NaN/inf/flagged
        nan or sentinel), n_no_metric (metric unknown), spearman, spearman_p, spearman_lo,
        spearman_hi, kendall (tau-b), kendall_p, kendall_lo, kendall_hi, pearson, pearson_p.
        Coefficients are NaN for fewer than 3 pairs or a constant column.
    """
    _check_table(scores, "score")
    _check_table(truth, "truth")
    proxies = _check_proxies(scores, proxies)
    metrics = _resolve_metrics(truth, metrics, neg_train_loss)
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot={n_boot!r}: must be a non-negative integer")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci={ci!r}: must be in (0, 1)")
    _rng_for(seed)  # validate the seed early
    _check_arch_match(scores, truth)
    q = [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)]
    rows = []
    for proxy in proxies:
        for metric in metrics:
            x, y, _, info = _pairs(scores, truth, proxy, metric, directions)
            row = {**info, **_point_stats(x, y)}
            lo = dict.fromkeys(["spearman_lo", "spearman_hi", "kendall_lo", "kendall_hi"], float("nan"))
            if n_boot > 0 and np.isfinite(row["spearman"]):
                rho, tau = bootstrap_rank_correlations(x, y, n_boot, _rng_for(seed, proxy, metric))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples
                    lo["spearman_lo"], lo["spearman_hi"] = np.nanpercentile(rho, q)
                    lo["kendall_lo"], lo["kendall_hi"] = np.nanpercentile(tau, q)
            row.update({k: float(v) for k, v in lo.items()})
            rows.append(row)
    cols = [
        "proxy", "metric", "higher_is_better", "oriented", "n", "n_excluded", "n_no_metric",
        "spearman", "spearman_p", "spearman_lo", "spearman_hi",
        "kendall", "kendall_p", "kendall_lo", "kendall_hi", "pearson", "pearson_p",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------------
# KNAS studies


class RepeatedSampling(NamedTuple):
    """Result of :func:`repeated_sampling`.

    per_repeat: repeat, proxy, n (pairs used), n_excluded, spearman, kendall.
    summary: proxy, coefficient, mean, std (ddof=1), min, max, repeats (finite values).
    samples: repeat, arch_id: the architectures drawn in each repetition.
    """

    per_repeat: pd.DataFrame
    summary: pd.DataFrame
    samples: pd.DataFrame


def repeated_sampling(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    proxies: Sequence[str] | str | None,
    metric: str,
    *,
    repeats: int = 50,
    n: int = 200,
    seed: int = 0,
    directions: Mapping[str, bool] | None = None,
) -> RepeatedSampling:
    """KNAS's sampling study: ``repeats`` draws of ``n`` architectures without replacement.

    The population is the scored architectures whose ``metric`` is known; one draw is shared by
    all proxies (as when several methods score the same sampled architectures). Within a draw,
    each proxy's NaN/sentinel scores are left out (counted in ``n_excluded``). Draw ``r`` is
    ``rng.choice(M, n, replace=False)`` (M = population size) with one ``rng`` seeded by ``seed``,
    so metrics with the same known architectures get the same draws.
    """
    _check_table(scores, "score")
    _check_table(truth, "truth")
    proxies = _check_proxies(scores, proxies)
    for name, v, lo in (("repeats", repeats, 1), ("n", n, MIN_PAIRS)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name}={v!r}: must be an integer >= {lo}")
    rng = _rng_for(seed)
    _check_arch_match(scores, truth)
    y_all = metric_values(truth, metric, scores[_ID])
    pop = np.flatnonzero(np.isfinite(y_all))  # (M,) rows with a known metric
    if n > len(pop):
        raise ValueError(
            f"n={n} is larger than the {len(pop)} architectures with a known {metric!r} "
            f"({len(scores)} scored); use n <= {len(pop)}"
        )
    draws = np.stack([rng.choice(len(pop), size=n, replace=False) for _ in range(repeats)])  # (R, n)
    W = np.zeros((repeats, len(pop)))
    W[np.arange(repeats)[:, None], draws] = 1.0  # (R, M) 0/1 membership
    y = y_all[pop]
    per = []
    for proxy in proxies:
        sign = 1.0 if direction_of(proxy, directions) else -1.0
        ok = valid_mask(scores, proxy)[pop]  # (M,)
        x = sign * pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)[pop]
        Wp = W[:, ok]  # (R, M_valid)
        used = Wp.sum(axis=1).astype(int)
        if ok.sum() >= 1:
            rho, tau = _apply_chunked([_SpearmanPlan(x[ok], y[ok]), _KendallPlan(x[ok], y[ok])], Wp)
        else:
            rho = tau = np.full(repeats, np.nan)
        rho, tau = np.where(used >= MIN_PAIRS, rho, np.nan), np.where(used >= MIN_PAIRS, tau, np.nan)
        per.append(
            pd.DataFrame(
                {"repeat": np.arange(repeats), "proxy": proxy, "n": used, "n_excluded": n - used,
                 "spearman": rho, "kendall": tau}
            )  # fmt: skip
        )
    per_repeat = pd.concat(per, ignore_index=True)
    summary = pd.DataFrame(
        [
            {"proxy": proxy, "coefficient": coef, "mean": v.mean(), "std": v.std(), "min": v.min(),
             "max": v.max(), "repeats": int(v.count())}  # fmt: skip
            for proxy, part in per_repeat.groupby("proxy", sort=False)
            for coef, v in (("spearman", part["spearman"]), ("kendall", part["kendall"]))
        ]
    )
    ids = scores[_ID].to_numpy()[pop]
    samples = pd.DataFrame(
        {"repeat": np.repeat(np.arange(repeats), n), _ID: ids[np.sort(draws, axis=1)].ravel()}
    )
    return RepeatedSampling(per_repeat, summary, samples)


def _ranked(scores: pd.DataFrame, proxy: str, directions, rows: np.ndarray | None = None) -> pd.DataFrame:
    """Valid rows (optionally within ``rows``) best first; ties broken by ascending arch_id."""
    sign = 1.0 if direction_of(proxy, directions) else -1.0
    ok = valid_mask(scores, proxy)
    if rows is not None:
        keep = np.zeros(len(scores), dtype=bool)
        keep[rows] = True
        ok &= keep
    sub = pd.DataFrame(
        {
            "_row": np.flatnonzero(ok),
            "_key": -sign * pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)[ok],
            _ID: scores[_ID].to_numpy()[ok],
        }
    )
    return sub.sort_values(["_key", _ID], kind="mergesort").reset_index(drop=True)


def rank_groups(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    proxy: str,
    metric: str,
    groups: int = 4,
    *,
    directions: Mapping[str, bool] | None = None,
) -> pd.DataFrame:
    """KNAS Fig. 1: architectures split into ``groups`` equal groups by proxy rank, best first.

    Uses architectures with a valid score and a known metric, ordered best score first (ties by
    arch_id); ``np.array_split`` sizes, so when the count does not divide evenly the first groups
    hold one more. Returns one row per group: proxy, metric, group (1 = best scores), n, mean,
    std (ddof=1), min, max of the metric, and score_min / score_max (raw proxy values).
    """
    _check_table(scores, "score")
    _check_table(truth, "truth")
    (proxy,) = _check_proxies(scores, [proxy])
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups={groups!r}: must be a positive integer")
    _check_arch_match(scores, truth)
    y_all = metric_values(truth, metric, scores[_ID])
    ranked = _ranked(scores, proxy, directions, rows=np.flatnonzero(np.isfinite(y_all)))
    if len(ranked) < groups:
        raise ValueError(
            f"groups={groups} but only {len(ranked)} architectures have a valid {proxy!r} and a known {metric!r}"
        )
    raw = pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)
    rows = []
    for g, part in enumerate(np.array_split(ranked["_row"].to_numpy(), groups), start=1):
        v = y_all[part]
        rows.append(
            dict(
                proxy=proxy, metric=metric, group=g, n=len(part), mean=float(v.mean()),
                std=float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                min=float(v.min()), max=float(v.max()),
                score_min=float(raw[part].min()), score_max=float(raw[part].max()),
            )  # fmt: skip
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Selection


def select_topk(
    scores: pd.DataFrame, proxy: str, k: int, directions: Mapping[str, bool] | None = None
) -> list:
    """The ``k`` best architectures by ``proxy`` (arch_ids, best first).

    Ties are broken by ascending arch_id; NaN/inf and ``nan``/``sentinel``-flagged scores are
    never selected. Raises ValueError when fewer than ``k`` architectures have a valid score.
    """
    _check_table(scores, "score")
    (proxy,) = _check_proxies(scores, [proxy])
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k={k!r}: must be a positive integer")
    ranked = _ranked(scores, proxy, directions)
    if len(ranked) < k:
        raise ValueError(
            f"k={k} but only {len(ranked)} of {len(scores)} architectures have a valid {proxy!r} score"
        )
    return ranked[_ID].iloc[:k].tolist()


class BestOfN(NamedTuple):
    """Result of :func:`best_of_n`: the pick, the architectures drawn and the search cost
    (sum of ``<proxy>__seconds`` over the drawn architectures; NaN without that column)."""

    arch_id: object
    sampled: list
    search_seconds: float


def best_of_n(
    scores: pd.DataFrame,
    proxy: str,
    n: int,
    *,
    seed: int | None = 0,
    directions: Mapping[str, bool] | None = None,
) -> BestOfN:
    """NASWOT's best-of-N on a score table: ``n`` rows proposed, the best valid score picked by
    NASWOT's rule (:func:`knas.selection.first_best`: ties go to the earliest proposal).

    ``seed`` an integer: the ``n`` rows are drawn uniformly without replacement
    (``np.random.default_rng(seed).choice``) and proposed in table order. ``seed=None``: the
    first ``n`` rows, as the study's ``select`` stage proposes them (its table is in the order of
    the study's sample, itself a seeded draw without replacement from the space).
    Proposed architectures whose score is NaN/sentinel cannot be picked but still cost their
    scoring time. Raises ValueError if ``n`` exceeds the table or no proposed score is valid.
    """
    _check_table(scores, "score")
    (proxy,) = _check_proxies(scores, [proxy])
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= len(scores):
        raise ValueError(f"n={n!r}: must be an integer in 1..{len(scores)} (the score table's rows)")
    if seed is None:
        rows = np.arange(n)
    else:
        _rng_for(seed)  # validate
        rows = np.sort(np.random.default_rng(seed).choice(len(scores), size=n, replace=False))
    values = pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)
    values = np.where(valid_mask(scores, proxy), values, np.nan)[rows]
    pick = first_best(values.tolist(), higher_is_better=direction_of(proxy, directions))
    if pick is None:
        raise ValueError(f"none of the {n} drawn architectures has a valid {proxy!r} score (seed={seed})")
    sec_col = f"{proxy}__seconds"
    seconds = (
        float(pd.to_numeric(scores[sec_col], errors="coerce").to_numpy(dtype=float)[rows].sum())
        if sec_col in scores.columns
        else float("nan")
    )
    sampled = scores[_ID].iloc[rows].tolist()
    return BestOfN(sampled[pick], sampled, seconds)


def random_pick(archs: Sequence, seed: int = 0):
    """One element of ``archs`` drawn uniformly with ``np.random.default_rng(seed)``
    (the random-search baseline with a budget of one)."""
    archs = list(archs)
    if not archs:
        raise ValueError("random_pick: no architectures to pick from")
    _rng_for(seed)  # validate
    return archs[int(np.random.default_rng(seed).integers(len(archs)))]


__all__ = [
    "BestOfN",
    "COEFFICIENTS",
    "DEFAULT_METRICS",
    "EXCLUDED_FLAGS",
    "KNOWN_FLAGS",
    "NEG_TRAIN_LOSS",
    "RepeatedSampling",
    "best_of_n",
    "bootstrap_rank_correlations",
    "correlations",
    "direction_of",
    "metric_values",
    "proxy_columns",
    "random_pick",
    "rank_groups",
    "repeated_sampling",
    "select_topk",
    "valid_mask",
]
