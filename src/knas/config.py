"""Checks of a study config that a JSON schema cannot express.

The Snakefile first validates ``config.yaml`` against ``workflow/schemas/config.schema.yaml``
(types, enums, ranges, unknown keys), then calls :func:`check_config`, so that bad input stops
Snakemake before any job runs, with a message naming the key and the allowed values.
"""
from __future__ import annotations

import os
from typing import Any


class ConfigError(ValueError):
    """A config value is invalid; the message names the key."""


class MissingInputError(ConfigError):
    """A file the study needs (raw data, benchmark) is not there yet.

    The Snakefile lets a dry run (``snakemake -n``) plan the study anyway, with a warning,
    so paper-scale configs can be planned on a machine without the data; a real run stops."""


def is_dry_run(argv) -> bool:
    """Whether a snakemake command line asks for a dry run (``-n``, ``--dry-run``, ``-pn``, ...).

    Snakemake decides dry-run-ness only after parsing the Snakefile, so the Snakefile reads it
    from the command line to let ``snakemake -n`` plan a study whose inputs are not here yet.
    """
    for arg in argv[1:]:
        if arg in ("--dry-run", "--dryrun", "--dry_run"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and arg[1:].isalpha() and "n" in arg[1:]:
            return True
    return False


def _check_archs(archs, key: str) -> None:
    from knas.nb201.space import validate

    for i, arch in enumerate(archs):
        try:
            validate(arch)
        except ValueError as err:
            raise ConfigError(f"config key {key}[{i}] = {arch!r}: {err}") from None


def _check_file(path, key: str) -> None:
    if path is not None and not os.path.isfile(path):
        raise ConfigError(f"config key {key}: file {path!r} does not exist")


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` for problems the schema cannot see.

    - every architecture in ``sample.archs`` and in ``sample.file`` is a valid NB201 string;
    - referenced files exist (``sample.file``, ``data.split_file``);
    - the dataset's raw files exist when they cannot be downloaded (``data.download: false``,
      or ImageNet16-120, which needs a login to download);
    - ``train.n_archs`` does not exceed the number of architectures studied.
    """
    sample = config.get("sample", {})
    _check_archs(sample.get("archs", []), "sample.archs")
    if sample.get("file"):
        _check_file(sample["file"], "sample.file")
        with open(sample["file"]) as fh:
            lines = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            raise ConfigError(f"config key sample.file: {sample['file']!r} lists no architecture")
        _check_archs(lines, f"sample.file ({sample['file']}) line")
    truth = config.get("truth", {})
    from knas.truth import check_benchmark_path

    if truth.get("benchmark", "train") != "train":
        if truth.get("path") and not os.path.exists(os.path.expanduser(truth["path"])):
            raise MissingInputError(
                f"config key truth.path = {truth['path']!r}: no such file or directory (the "
                f"{truth['benchmark']} benchmark; see README, 'Ground truth', for where to get it)"
            )
        try:
            check_benchmark_path(truth["benchmark"], truth.get("path"))
        except ValueError as err:
            raise ConfigError(str(err)) from None
    scoring = config.get("scoring", {})
    unknown = set(scoring.get("options", {})) - set(scoring.get("proxies", []))
    if unknown:
        raise ConfigError(f"config key scoring.options names proxies not in scoring.proxies: {sorted(unknown)}")
    from knas import proxies as P  # the catalog: no torch at parse time

    for name, opts in scoring.get("options", {}).items():
        allowed = P.spec(name).defaults
        bad = set(opts or {}) - set(allowed)
        if bad:
            raise ConfigError(f"config key scoring.options.{name}: unknown option(s) {sorted(bad)}; "
                              f"allowed: {sorted(allowed) or 'none'}")
        from knas.study.score_files import options_key  # the options name the proxy's score files

        try:
            options_key(name, opts)
        except ValueError as err:
            raise ConfigError(f"config key scoring.options.{name}: {err}") from None
    batch = scoring.get("batch_size", 64)
    for name in scoring.get("proxies", []):
        n = {**P.spec(name).defaults, **(scoring.get("options", {}).get(name) or {})}.get("n")
        if isinstance(n, int) and n > batch:
            raise ConfigError(f"config key scoring.batch_size = {batch} is smaller than proxy {name!r} option "
                              f"n={n}; raise scoring.batch_size or set scoring.options.{name}.n")
    sel = config.get("select", {}).get("proxy", "mgm")
    scored = set(scoring.get("proxies", []))
    comps = P.members(sel) if sel in P.catalog() else (sel,)
    if not set(comps) <= scored:
        raise ConfigError(f"config key select.proxy = {sel!r} needs scoring.proxies to include {sorted(comps)}")
    if config.get("search", {}).get("runs") and truth.get("benchmark", "train") == "train":
        raise ConfigError("config key search.runs needs a benchmark as oracle: set truth.benchmark to "
                          "table, nb201 or nats_tss (strategies query architectures nobody trained)")
    data = config.get("data", {})
    _check_file(data.get("split_file"), "data.split_file")
    dataset = data.get("dataset", "digits")
    from knas.data import raw_files, url_of

    missing = [f for f in raw_files(dataset) if not os.path.exists(os.path.join(data.get("root", ""), f))]
    if missing and (not data.get("download", True) or any(url_of(dataset, f) is None for f in missing)):
        where = os.path.abspath(data.get("root", ""))
        hints = []
        for f in missing:
            url = url_of(dataset, f)
            hints.append(f"{f}" + (f" (from {url})" if url else ""))
        raise MissingInputError(
            f"config key data.dataset = {dataset!r}: missing raw file(s) in data.root = {where!r}: "
            + ", ".join(hints)
            + (" — set data.download: true or put them there by hand" if any(url_of(dataset, f) for f in missing) else
               " — these need a manual download; put them there by hand")
        )
