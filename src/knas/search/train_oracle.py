"""The study's own training as the oracle of a search (``truth.benchmark: train``).

Without a benchmark, a strategy that trains nothing during its search (``trains=False``: the
TEG and supernet searches) still needs the found architecture's accuracy. :class:`TrainingOracle`
answers it by training the architecture with :func:`knas.train.train_architecture` (the truth
stage's recipe, :func:`knas.train_config.study_train_config`) into ``<out_dir>/<index>/`` the
first time it is asked, and reading the finished ``history.json`` as the ``train`` ground truth
does (:func:`knas.truth.history.read_history`: ``valid_acc``/``test_acc`` after the study's
schedule, not NB201's 200 epochs). A rerun, or another run finding the same architecture, reads
the history back; an interrupted training resumes from its checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from knas.truth.base import STANDARD_KEYS, Oracle, TruthError
from knas.truth.history import EXTRA_KEYS, HISTORY_NAME, read_history


class TrainingOracle(Oracle):
    """Records from our own training runs, trained on demand (see the module docstring)."""

    kind = "train"
    extra_keys = EXTRA_KEYS

    def __init__(self, space, data_path: str, out_dir: str, cfg, dataset: str):
        super().__init__(Path(out_dir))
        if cfg.space != space.name:
            raise TruthError(f"--train-found trains space {cfg.space!r} networks, but the search is on {space.name!r}")
        self.space = space.name
        self.data_path = str(data_path)
        self.cfg = cfg
        self.datasets = (dataset,)
        self.dataset = dataset

    def run_dir(self, arch: str) -> Path:
        """Where ``arch`` is trained: its index in the space (its benchmark key where there is none)."""
        sp = self.search_space
        return self.path / str(sp.index_of(arch) if sp.has_index else sp.key(arch))

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        from knas.train import train_architecture

        out = self.run_dir(arch)
        if not (out / HISTORY_NAME).exists():
            train_architecture(arch, self.data_path, out, self.cfg, progress=False)
        run = read_history(out / HISTORY_NAME, self.space)
        return {k: run[k] for k in (*STANDARD_KEYS, *EXTRA_KEYS)}


def training_oracle(space, data_path: str | None, out_dir: str, config_json: str, dataset: str) -> TrainingOracle:
    """``knas search --truth-kind train --train-found JSON``: JSON holds
    :class:`knas.train_config.TrainConfig` fields (the workflow passes the truth stage's)."""
    import json

    from knas.train_config import TrainConfig

    if not data_path:
        raise ValueError("--train-found needs the prepared dataset: pass --data")
    try:
        cfg = TrainConfig(**json.loads(config_json))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise ValueError(f"--train-found {config_json!r}: expected a JSON object of knas.train_config.TrainConfig "
                         f"fields ({err})") from None
    return TrainingOracle(space, data_path, out_dir, cfg, dataset)
