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
        raise ConfigError(
            f"config key data.dataset = {dataset!r}: missing raw file(s) in data.root = {where!r}: "
            + ", ".join(hints)
            + (" — set data.download: true or put them there by hand" if any(url_of(dataset, f) for f in missing) else
               " — these need a manual download; put them there by hand")
        )
    n = sample.get("n", 0)
    n_archs = config.get("train", {}).get("n_archs", 0)
    n_studied = len(sample.get("archs", [])) or (15625 if n == "all" else n)
    if not sample.get("file") and isinstance(n_studied, int) and n_archs > n_studied:
        raise ConfigError(f"config key train.n_archs = {n_archs} exceeds the {n_studied} architectures studied")
