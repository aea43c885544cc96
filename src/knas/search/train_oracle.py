"""The study's own training as the oracle of a search (``truth.benchmark: train``).

Without a benchmark, a strategy that trains nothing during its search (``trains=False``: the
TEG and supernet searches) still needs the found architecture's accuracy. :class:`TrainingOracle`
answers it by training the architecture with :func:`knas.train.train_architecture` (the truth
stage's recipe) into ``<out_dir>/<index>/`` the first time it is asked, and reading the finished
``history.json`` as the ``train`` ground truth does (:func:`knas.truth.history.read_history`:
``valid_acc``/``test_acc`` after the study's schedule, not NB201's 200 epochs). A rerun, or
another run finding the same architecture, reads the history back; an interrupted training
resumes from its checkpoint.
"""
from __future__ import annotations

import math
from pathlib import Path

from .oracle import RECORD_KEYS, Oracle


class TrainingOracle(Oracle):
    """Records from our own training runs, trained on demand (see the module docstring)."""

    def __init__(self, space, data_path: str, out_dir: str, cfg, dataset: str):
        self.space = space
        self.data_path = str(data_path)
        self.out_dir = Path(out_dir)
        self.cfg = cfg
        self.datasets = (dataset,)
        self.dataset = dataset
        self._memo: dict[str, dict[str, float]] = {}

    def record(self, arch: str, dataset: str) -> dict[str, float]:
        from knas.train import train_architecture
        from knas.truth.history import HISTORY_NAME, read_history

        self._dataset(dataset)
        if arch not in self._memo:
            out = self.out_dir / str(self.space.index_of(arch))
            if not (out / HISTORY_NAME).exists():
                train_architecture(arch, self.data_path, out, self.cfg, progress=False)
            run = read_history(out / HISTORY_NAME)
            self._memo[arch] = {k: float(run.get(k, math.nan)) for k in RECORD_KEYS}
        return self._memo[arch]


def training_oracle(space, data_path: str | None, out_dir: str, config_json: str, dataset: str) -> TrainingOracle:
    """``knas search --truth-kind train --train-found JSON``: JSON holds :class:`knas.train.TrainConfig` fields."""
    import json

    from knas.train import TrainConfig

    if not data_path:
        raise ValueError("--train-found needs the prepared dataset: pass --data")
    try:
        fields = json.loads(config_json)
        cfg = TrainConfig(**fields)
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"--train-found {config_json!r}: expected a JSON object of knas.train.TrainConfig "
                         f"fields ({err})") from None
    return TrainingOracle(space, data_path, out_dir, cfg, dataset)
