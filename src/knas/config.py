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
    """Something the study needs (raw data, a benchmark file, CUDA) is not on this machine (yet).

    The Snakefile lets a dry run (``snakemake -n``) plan the study anyway, with a warning,
    so paper-scale configs can be planned on a machine without the data; a real run stops."""


def _option_value(argv, names) -> str | None:
    """Value of the first of the options ``names`` in a command line (``--x v`` or ``--x=v``)."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return None


def runs_jobs_here(argv) -> bool:
    """Whether a snakemake command line runs its jobs on this machine (the local executor).

    With ``--executor slurm`` (or a profile that sets an executor) the jobs run elsewhere, so a
    check of this machine's hardware (``device: cuda``) would be wrong and is left to the jobs.
    """
    executor = _option_value(argv, ("--executor", "-e"))
    profiles = [p for p in (_option_value(argv, ("--profile",)), _option_value(argv, ("--workflow-profile",)),
                            os.environ.get("SNAKEMAKE_PROFILE")) if p]
    for prof in profiles:
        path = os.path.join(prof, "config.yaml")
        if executor is None and os.path.isfile(path):
            import yaml

            with open(path) as fh:
                executor = (yaml.safe_load(fh) or {}).get("executor")
    return executor in (None, "local", "dryrun", "touch")


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


def _check_archs(archs, key: str, space: str = "nb201") -> None:
    from knas.spaces import get_space

    validate = get_space(space).validate
    for i, arch in enumerate(archs):
        try:
            validate(arch)
        except ValueError as err:
            raise ConfigError(f"config key {key}[{i}] = {arch!r} (space.name = {space!r}): {err}") from None


def space_options(config: dict[str, Any]) -> dict[str, int]:
    """The network options of the configured space (``space.<option>`` keys it has; e.g. nb201:
    ``C``, ``N``; nb101: ``stem_channels``, ``num_stacks``, ``cells_per_stack``; nats_sss: none)."""
    from knas.spaces import get_space

    sp = config.get("space", {})
    space = get_space(sp.get("name", "nb201"))
    return space.options(**{k: sp[k] for k in space.network_options if k in sp})


def _check_file(path, key: str) -> None:
    if path is not None and not os.path.isfile(path):
        raise ConfigError(f"config key {key}: file {path!r} does not exist")


def _study_size(sample: dict[str, Any], space: str = "nb201") -> tuple[int, str]:
    """Number of architectures a study looks at, and the key that sets it."""
    from knas.spaces import get_space

    sp = get_space(space)
    explicit = list(sample.get("archs", []))
    if sample.get("file"):
        with open(sample["file"]) as fh:
            explicit += [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if explicit:
        return len({sp.validate(a) for a in explicit}), "sample.archs/sample.file"
    n = sample.get("n", 100)
    return (sp.size if n == "all" else int(n)), "sample.n"


def _check_study_pools(config: dict[str, Any], n: int, key: str) -> None:
    """The sizes drawn from the study's ``n`` architectures (set by ``key``): KNAS's repeated
    sampling (``analysis.repeat_n`` < n, else every repetition draws the same architectures, KNAS
    Fig. 2: 50 x 200 from NAS-Bench-201) and the search pool (``select.pool`` <= n); the KNAS fine
    selection by the benchmark's 12-epoch record needs a benchmark. Keys absent are not checked
    (the workflow fills the schema's defaults first)."""
    analysis, select = config.get("analysis", {}), config.get("select", {})
    repeat_n = analysis.get("repeat_n")
    if repeat_n is not None and analysis.get("repeats", 0) > 0 and repeat_n >= n:
        raise ConfigError(f"config keys analysis.repeat_n = {repeat_n} and {key} ({n} architectures): every one of "
                          f"the analysis.repeats = {analysis['repeats']} repetitions would draw the same "
                          f"architectures; set analysis.repeat_n below {n}, raise {key}, or set analysis.repeats: 0")
    pool = select.get("pool")
    if pool is not None and pool > n:
        raise ConfigError(f"config keys select.pool = {pool} and {key}: the search pool is the first select.pool "
                          f"of the study's {n} architectures; set select.pool <= {n} (or null: all of them)")
    if select.get("fine", "train") != "train" and config.get("truth", {}).get("benchmark", "train") == "train":
        raise ConfigError(f"config key select.fine = {select['fine']!r} reads the benchmark's 12-epoch records: set "
                          "truth.benchmark to a benchmark (or select.fine: train, the paper's 20-epoch training)")


def check_config(config: dict[str, Any], argv=None) -> None:
    """Raise :class:`ConfigError` for problems the schema cannot see, before any job runs.

    Each value is checked by the validator of the code that uses it (the same one the job calls):

    - the study does something (``vision`` and/or ``text.enabled``);
    - every architecture in ``sample.archs`` and in ``sample.file`` is a valid NB201 string, and
      the study has at least as many architectures as a correlation needs, more than one
      repeated-sampling draw (``analysis.repeat_n``) and at least the search pool (``select.pool``);
    - referenced files exist (``sample.file``, ``data.split_file``, ``text.data_dir``) and fit
      (a split file only for a dataset that has one);
    - the dataset's raw files exist when they cannot be downloaded (``data.download: false``,
      or ImageNet16-120, which needs a login to download);
    - the training recipe (``train.*``, ``truth.epochs``, ``space.C/N``, ``seed``): :class:`knas.train.TrainConfig`;
    - the ground truth (``truth.*``): :func:`knas.truth.check_truth_config`;
    - proxy options (``scoring.options``): :meth:`knas.proxies.ProxySpec.check_options`; per-proxy
      batch sizes (``scoring.batch_sizes``: scored proxies, each batch >= the proxy's ``n``);
      ``scoring.init`` one of :data:`knas.proxies.registry.INITS`;
    - search parameters (``search.runs.*.params``): :meth:`knas.search.StrategySpec.check_params`;
    - ``device: cuda`` needs CUDA on this machine when the jobs run here (``argv``: the snakemake
      command line, default ``sys.argv``; see :func:`runs_jobs_here`).
    """
    import sys

    argv = sys.argv if argv is None else argv
    vision = config.get("vision", True)
    text = config.get("text", {})
    if not vision and not text.get("enabled", False):
        raise ConfigError("config keys vision = false and text.enabled = false: the study would do nothing; "
                          "set vision: true (the NAS study) and/or text.enabled: true (the text study)")
    space = config.get("space", {}).get("name", "nb201")
    from knas.spaces import names as space_names

    if space not in space_names():
        raise ConfigError(f"config key space.name = {space!r} is unknown; allowed: {', '.join(space_names())}")
    try:
        space_options(config)
    except ValueError as err:
        raise ConfigError(f"config key space: {err}") from None
    sample = config.get("sample", {})
    _check_archs(sample.get("archs", []), "sample.archs", space)
    if sample.get("file"):
        _check_file(sample["file"], "sample.file")
        with open(sample["file"]) as fh:
            lines = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            raise ConfigError(f"config key sample.file: {sample['file']!r} lists no architecture")
        _check_archs(lines, f"sample.file ({sample['file']}) line", space)
    if vision:
        from knas.analysis import MIN_PAIRS

        n, key = _study_size(sample, space)
        if n < MIN_PAIRS:
            raise ConfigError(f"config key {key}: the study has {n} architecture(s); correlations need at least "
                              f"{MIN_PAIRS} (allowed: {MIN_PAIRS} .. the space's size, or 'all')")
        _check_study_pools(config, n, key)
    truth = config.get("truth", {})
    from knas.truth import BENCHMARK_SPACE

    bench = truth.get("benchmark", "train")
    if BENCHMARK_SPACE.get(bench, space) != space:
        raise ConfigError(f"config key truth.benchmark = {bench!r} holds {BENCHMARK_SPACE[bench]} architectures, but "
                          f"space.name = {space!r}; allowed for {space}: "
                          + ", ".join(b for b in (*BENCHMARK_SPACE, "table", "train") if BENCHMARK_SPACE.get(b, space) == space))

    data = config.get("data", {})
    dataset = data.get("dataset", "digits")
    from knas.truth import check_truth_config

    kind = truth.get("benchmark", "train")
    if kind != "train" and truth.get("path") and not os.path.exists(os.path.expanduser(truth["path"])):
        raise MissingInputError(
            f"config key truth.path = {truth['path']!r}: no such file or directory (the "
            f"{truth['benchmark']} benchmark; see README, 'Ground truth', for where to get it)"
        )
    if vision:
        try:
            check_truth_config(kind, truth.get("path"), truth.get("dataset"), dataset)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        from knas.train_config import study_train_config

        for phase in ("truth", "topk") if kind == "train" else ("topk",):
            try:
                study_train_config(config, phase)
            except ValueError as err:
                raise ConfigError(str(err)) from None
    scoring = config.get("scoring", {})
    unknown = set(scoring.get("options", {})) - set(scoring.get("proxies", []))
    if unknown:
        raise ConfigError(f"config key scoring.options names proxies not in scoring.proxies: {sorted(unknown)}")
    from knas import proxies as P  # the catalog: no torch at parse time

    for name, opts in scoring.get("options", {}).items():
        from knas.study.score_files import options_key  # the options name the proxy's score files

        try:
            P.spec(name).check_options({} if opts is None else opts)
            options_key(name, opts)
        except ValueError as err:
            raise ConfigError(f"config key scoring.options.{name}: {err}") from None
    from knas.proxies.registry import INITS

    init = scoring.get("init", "default")
    if init not in INITS:
        raise ConfigError(f"config key scoring.init = {init!r} is unknown; allowed: {', '.join(INITS)}")
    sizes = scoring.get("batch_sizes") or {}
    unknown = set(sizes) - set(scoring.get("proxies", []))
    if unknown:
        raise ConfigError(f"config key scoring.batch_sizes names proxies not in scoring.proxies: {sorted(unknown)}")
    for name, size in sizes.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"config key scoring.batch_sizes.{name} = {size!r}: allowed: an integer >= 1")
    for name in scoring.get("proxies", []):
        batch, key = (sizes[name], f"scoring.batch_sizes.{name}") if name in sizes else \
            (scoring.get("batch_size", 64), "scoring.batch_size")
        n = {**P.spec(name).defaults, **(scoring.get("options", {}).get(name) or {})}.get("n")
        if isinstance(n, int) and n > batch:
            raise ConfigError(f"config key {key} = {batch} is smaller than proxy {name!r} option "
                              f"n={n}; raise {key} or set scoring.options.{name}.n")
    if space != "nb201":  # what is defined on NB201 cells only
        lr = (scoring.get("options", {}).get("linear_regions") or {}).get("protocol", "thin")
        if "linear_regions" in scoring.get("proxies", []) and lr != "full":
            raise ConfigError(f"config key scoring.options.linear_regions.protocol = {lr!r}: TE-NAS's thin network "
                              f"is defined on NB201 cells only; with space.name = {space!r} set it to 'full'")
        for run, spec in (config.get("search", {}).get("runs") or {}).items():
            if spec.get("strategy") in ("teg_reinforce", "teg_evolution", "fpnas_teg"):
                raise ConfigError(f"config key search.runs.{run}.strategy = {spec['strategy']!r}: TEG's strategies "
                                  "(one op per edge; linear regions of the NB201 thin network) are defined on NB201 "
                                  f"cells only; not available for space.name = {space!r}")
    from knas.spaces import get_space

    if not get_space(space).has_supernet:
        from knas.search import load_all

        reg = load_all()
        for run, spec in (config.get("search", {}).get("runs") or {}).items():
            if spec.get("strategy") in reg and reg[spec["strategy"]].supernet:
                raise ConfigError(f"config key search.runs.{run}.strategy = {spec['strategy']!r}: a supernet search, "
                                  f"and space.name = {space!r} has no supernet (Space.build_supernet); spaces with "
                                  "one: " + ", ".join(n for n in space_names() if get_space(n).has_supernet))
    sel = config.get("select", {}).get("proxy", "mgm")
    scored = set(scoring.get("proxies", []))
    comps = P.members(sel) if sel in P.catalog() else (sel,)
    if not set(comps) <= scored:
        raise ConfigError(f"config key select.proxy = {sel!r} needs scoring.proxies to include {sorted(comps)}")
    runs = config.get("search", {}).get("runs") or {}
    if runs:
        from knas.search import get_strategy, load_all

        reg = load_all()
        if truth.get("benchmark", "train") == "train":
            training = sorted(k for k, r in runs.items() if r.get("strategy") in reg and reg[r["strategy"]].trains)
            if training:
                raise ConfigError(f"config key search.runs: {', '.join(training)} train architectures during the "
                                  "search and need a benchmark as oracle: set truth.benchmark to a benchmark of the "
                                  "space or table (with truth.benchmark: train only the found architectures are "
                                  "trained)")
        known = sorted(P.catalog())
        for run, spec in runs.items():
            try:
                params, _ = get_strategy(spec["strategy"]).check_params(spec.get("params") or {})
            except ValueError as err:
                raise ConfigError(f"config key search.runs.{run}.params: {err}") from None
            if "proxy" in params and params["proxy"] not in known:
                raise ConfigError(f"config key search.runs.{run}.params.proxy = {params['proxy']!r}: allowed: "
                                  + ", ".join(known))
    _check_file(data.get("split_file"), "data.split_file")
    from knas.data.splits import check_split_file

    try:
        check_split_file(dataset, data.get("split_file"), "data.split_file")
    except (ValueError, FileNotFoundError) as err:
        raise ConfigError(str(err)) from None
    if text.get("enabled") and text.get("data_dir") is not None:
        from knas.text.data import check_data_dir

        try:
            check_data_dir(text["data_dir"])
        except FileNotFoundError as err:
            raise MissingInputError(str(err)) from None
    if config.get("device") in ("cuda",) and runs_jobs_here(argv):
        from knas.utils import get_device

        try:
            get_device(config["device"])
        except ValueError as err:
            raise MissingInputError(
                f"config key device = {config['device']!r}: {err}; or run the jobs on a GPU node "
                f"(e.g. --workflow-profile workflow/profiles/slurm)"
            ) from None
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
