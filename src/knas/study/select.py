"""Stage 6: the architectures each search method picks (KNAS top-k, NASWOT best-of-N, random)."""
from __future__ import annotations

import pandas as pd

from knas import analysis
from knas.utils import read_table, write_table

from .tables import directions, search_pool, with_combined


def select(scores_path, archs_path, out_path, *, proxy="mgm", ks=(20, 40), naswot_n=(10, 100), random_seeds=10,
           seed=0, pool=None) -> pd.DataFrame:
    """The architectures each search method picks, one row per (method, pick).

    The search space of every method is the pool: the first ``pool`` architectures of the study's
    seeded sample (:func:`knas.study.tables.search_pool`; ``None``: all of them). KNAS Sec. 6.3
    searches 100 sampled architectures, while Fig. 2 correlates over a larger scored sample.

    - ``knas_k{k}``: the top-k of the pool by ``proxy`` (rank 1 = best); they are trained, best by
      validation wins (KNAS Algorithm 1).
    - ``naswot_n{N}``: NASWOT's best of N (:func:`knas.analysis.best_of_n` with ``seed=None``): the
      first N architectures of the pool proposed, the best by ``naswot`` (or ``proxy``) picked,
      ties to the earliest in sample order.
    - ``random_s{i}``: one architecture drawn uniformly from the pool with seed ``seed + i``
      (:func:`knas.analysis.random_pick`).
    ``k``/``N`` larger than the pool are clipped to it (the method name keeps the asked value).
    A size asked twice is one method (``ks=(2, 2)`` is ``knas_k2`` once).
    """
    ks, naswot_n = list(dict.fromkeys(ks)), list(dict.fromkeys(naswot_n))
    scores = search_pool(with_combined(read_table(scores_path)), archs_path, pool)
    dirs = directions(scores)
    if proxy not in scores:
        raise ValueError(f"select.proxy={proxy!r} was not scored; scored: {analysis.proxy_columns(scores)}")
    rows = []
    n_valid = int(analysis.valid_mask(scores, proxy).sum())
    for k in ks:
        for rank, aid in enumerate(analysis.select_topk(scores, proxy, min(k, n_valid), dirs), start=1):
            rows.append({"method": f"knas_k{k}", "proxy": proxy, "rank": rank, "arch_id": aid})
    nw = "naswot" if "naswot" in scores else proxy
    for n in naswot_n:
        pick = analysis.best_of_n(scores, nw, min(n, len(scores)), seed=None, directions=dirs)
        rows.append({"method": f"naswot_n{n}", "proxy": nw, "rank": 1, "arch_id": pick.arch_id})
    for i in range(random_seeds):
        rows.append({"method": f"random_s{i}", "proxy": None, "rank": 1,
                     "arch_id": int(analysis.random_pick(scores["arch_id"], seed=seed + i))})
    table = pd.DataFrame(rows)
    arch = dict(zip(scores["arch_id"], scores["arch"]))
    table["arch"] = table["arch_id"].map(arch)
    write_table(out_path, table)
    return table
