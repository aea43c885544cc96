"""Stage 3's files: one score table per (proxy, options, shard), written by one job per (pass
group, shard).

A score job computes every configured proxy of one pass group (:func:`knas.proxies.pass_groups`)
through one :class:`knas.proxies.Context`, and writes one table per proxy at::

    <root>/<proxy>/<options>/shard<i>.parquet

``<options>`` spells the proxy's non-default options (``default`` when there are none, e.g.
``official_counting=true`` or ``n=10,sampled=5``). A file's name therefore says everything that
is specific to its proxy, and the score job reads its proxies and their options back from the
paths it is asked to write (:func:`parse_score_file`). That keeps the workflow's caching
per proxy although the jobs are per group: adding a proxy adds a missing file to its group's job
(that job reruns, no other); removing one drops a file nobody asks for (nothing reruns);
changing one proxy's options renames its file (its group reruns, and the old options' files stay
valid under their own name). Everything the proxies of a study share (network size, batch, seeds,
device) is a parameter of every score job.

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


def score_file(root: str | Path, proxy: str, options: dict | None, shard: int | str) -> str:
    """Path of ``proxy``'s score table for ``shard`` (an index, or a ``{shard}`` wildcard)."""
    return f"{root}/{proxy}/{options_key(proxy, options)}/shard{shard}.parquet"


def parse_score_file(path: str | Path) -> tuple[str, dict]:
    """``(proxy, options)`` of a :func:`score_file` path: the inverse of its naming."""
    p = Path(path)
    proxy, key = p.parent.parent.name, p.parent.name
    if not proxy or not key or p.suffix not in (".parquet", ".csv"):
        raise ValueError(f"{path}: not a score file <root>/<proxy>/<options>/<name>.parquet")
    options = {}
    if key != DEFAULT:
        for part in key.split(","):
            k, sep, v = part.partition("=")
            if not sep or not k:
                raise ValueError(f"{path}: options segment {key!r} is not key=value[,key=value...]")
            options[k] = _decode(v)
    if options_key(proxy, options) != key:  # unknown proxy/option, or a spelling we would not write
        raise ValueError(f"{path}: options segment {key!r} should read {options_key(proxy, options)!r}")
    return proxy, options


def score_jobs(root: str | Path, proxies, options: dict | None = None, shard: str = "{shard}") -> dict[str, list[str]]:
    """The score jobs of a study: pass group -> the :func:`score_file` paths of its proxies (for
    ``shard``, by default the pattern ``{shard}``), groups and members in the order given."""
    from knas.proxies import pass_groups

    options = options or {}
    return {g: [score_file(root, p, options.get(p), shard) for p in members]
            for g, members in pass_groups(proxies).items()}
