"""Stage 3's files: one score table per (proxy, options, batch size, shard), written by one job per
(pass group, shard).

A score job computes every configured proxy of one pass group (:func:`knas.proxies.pass_groups`)
through one :class:`knas.proxies.Context` per distinct batch size in the group, and writes one
table per proxy at::

    <root>/<proxy>/<options>/batch<B>/shard<i>.parquet

``<options>`` spells the proxy's non-default options (``default`` when there are none, e.g.
``official_counting=true`` or ``n=10,sampled=5``), ``B`` its batch size
(``scoring.batch_sizes.<proxy>``, else ``scoring.batch_size``). A file's name therefore says
everything that is specific to its proxy, and the score job reads its proxies, their options and
batch sizes back from the paths it is asked to write (:func:`parse_score_file`). That keeps the
workflow's caching per proxy although the jobs are per group: adding a proxy adds a missing file
to its group's job (that job reruns, no other); removing one drops a file nobody asks for
(nothing reruns); changing one proxy's options or batch size renames its file (its group reruns,
and the old files stay valid under their own name). Everything the proxies of a study share
(network size, init, batch seed, augmentation, device) is a parameter of every score job, written
by :func:`scoring_args`, which also writes the scoring flags of the search jobs' on-demand
scoring (so those scores are the study's).

Imported when the workflow is parsed: no torch here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

DEFAULT = "default"
_RAW_STRING = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*\Z")


def _encode(value) -> str:
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            if _RAW_STRING.match(value):
                return value
        raise ValueError(f"{value!r}: a string option must start with a letter, use only letters, digits "
                         "and _.+- and not read as JSON (true, false, null, NaN, Infinity)")
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise ValueError(f"{value!r}: only scalar options (number, true/false, null, plain string) name a file")


def _decode(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def options_key(proxy: str, options: dict | None) -> str:
    """The ``<options>`` segment of ``proxy``'s score files: its options that differ from the
    registered defaults, as sorted ``key=value`` pairs, or ``default``.

    Raises ValueError for an unknown option or a value a file name cannot carry (config check)."""
    from knas.proxies import spec

    defaults = spec(proxy).defaults
    options = options or {}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"proxy {proxy}: unknown option(s) {unknown}; allowed: {sorted(defaults)}")
    parts = []
    for k in sorted(options):
        v = options[k]
        if v == defaults[k] and type(v) is type(defaults[k]):  # the default, spelled out
            continue
        try:
            parts.append(f"{k}={_encode(v)}")
        except ValueError as err:
            raise ValueError(f"proxy {proxy}, option {k}: {err}") from None
    return ",".join(parts) or DEFAULT


_BATCH = re.compile(r"batch([1-9][0-9]*)\Z")


def score_file(root: str | Path, proxy: str, options: dict | None, shard: int | str, batch_size: int) -> str:
    """Path of ``proxy``'s score table on batches of ``batch_size`` for ``shard`` (an index, or a
    ``{shard}`` wildcard)."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"proxy {proxy}: batch size {batch_size!r} must be a positive integer")
    return f"{root}/{proxy}/{options_key(proxy, options)}/batch{batch_size}/shard{shard}.parquet"


def parse_score_file(path: str | Path) -> tuple[str, dict, int]:
    """``(proxy, options, batch_size)`` of a :func:`score_file` path: the inverse of its naming."""
    p = Path(path)
    proxy, key, batch = p.parent.parent.parent.name, p.parent.parent.name, _BATCH.match(p.parent.name)
    if not proxy or not key or not batch or p.suffix not in (".parquet", ".csv"):
        raise ValueError(f"{path}: not a score file <root>/<proxy>/<options>/batch<B>/<name>.parquet")
    options = {}
    if key != DEFAULT:
        for part in key.split(","):
            k, sep, v = part.partition("=")
            if not sep or not k:
                raise ValueError(f"{path}: options segment {key!r} is not key=value[,key=value...]")
            options[k] = _decode(v)
    if options_key(proxy, options) != key:  # unknown proxy/option, or a spelling we would not write
        raise ValueError(f"{path}: options segment {key!r} should read {options_key(proxy, options)!r}")
    return proxy, options, int(batch.group(1))


def score_jobs(root: str | Path, proxies, options: dict | None = None, shard: str = "{shard}", *,
               batch_size: int = 64, batch_sizes: dict | None = None) -> dict[str, list[str]]:
    """The score jobs of a study: pass group -> the :func:`score_file` paths of its proxies (for
    ``shard``, by default the pattern ``{shard}``), groups and members in the order given; a
    proxy's batch is ``batch_sizes[proxy]``, else ``batch_size``."""
    from knas.proxies import pass_groups

    options, batch_sizes = options or {}, batch_sizes or {}
    return {g: [score_file(root, p, options.get(p), shard, batch_sizes.get(p, batch_size)) for p in members]
            for g, members in pass_groups(proxies).items()}


def scoring_args(config: dict, *, per_proxy: bool) -> str:
    """The scoring flags of ``knas score`` / ``knas search`` (:func:`knas.cli.common.scoring_flags`)
    for a (defaults-filled) study config: the ONE place a study's scoring settings become a
    command line, so on-demand scores in the search jobs are computed as the study's.

    ``per_proxy``: also the per-proxy settings (``--options``, ``--batch-sizes``), which a score
    job reads from its output paths instead (so that changing one proxy's reruns only its group)
    and a search job needs on its command line.
    """
    import json
    import shlex

    from knas.config import space_options

    sc, space = config["scoring"], config["space"]
    others = {} if space["name"] == "nb201" else space_options(config)  # NB201's C and N go as --C/--N
    args = [f"--space {space['name']}", f"--space-options {shlex.quote(json.dumps(others, sort_keys=True))}"]
    args += [f"--C {space['C']}", f"--N {space['N']}", f"--batch-size {sc['batch_size']}",
             f"--batch-seed {sc['batch_seed']}", f"--init-seed {sc['init_seed']}", f"--init {sc.get('init', 'default')}",
             f"--device {config['device']}"]
    if sc["augment"]:
        args.append("--augment")
    if per_proxy:
        proxies = set(sc["proxies"])
        opts = {k: v for k, v in (sc.get("options") or {}).items() if k in proxies and v}
        sizes = {k: v for k, v in (sc.get("batch_sizes") or {}).items() if k in proxies}
        args += [f"--options {shlex.quote(json.dumps(opts, sort_keys=True))}",
                 f"--batch-sizes {shlex.quote(json.dumps(sizes, sort_keys=True))}"]
    return " ".join(args)
