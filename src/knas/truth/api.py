"""Ground truth read through the benchmarks' own API packages.

- ``nb201``: a NAS-Bench-201 ``.pth`` file (e.g. ``NAS-Bench-201-v1_1-096897.pth``) loaded by
  ``nas_201_api.NASBench201API`` (pip ``nas-bench-201``).
- ``nats_tss``: NATS-Bench's topology space (the same 15,625 cells) loaded by
  ``nats_bench.create(path, 'tss', ...)``: a directory (e.g. ``NATS-tss-v1_0-3ffb9-simple``, read
  lazily with ``fast_mode=True``) or a single ``.pickle.pbz2`` file (``fast_mode=False``).

Both are queried with ``get_more_info(index, setting, iepoch=None, hp='200'|'12', is_random=False)``,
i.e. the last epoch, averaged over the benchmark's seeds; see :mod:`knas.truth.base` for which
setting and evaluation set feeds each standard key.

Loading the ``.pth`` file: the API calls ``torch.load(path)``, which since torch 2.6 means
``weights_only=True``. The official file very likely holds numpy scalars (xautodl's
``count_parameters_in_MB`` returns ``numpy.float64``; not verified on the real file, which cannot
be downloaded here), which that loader refuses. We allow-list numpy's scalar/array reconstruction
only (under both the ``numpy.core`` names of files pickled with numpy 1.x and numpy 2's
``numpy._core``); anything else in the file still fails, with an error that points to
``allow_pickle=True`` (a full pickle load, what torch < 2.6 did: only for a file from a trusted
source). The numbers are the package's own. ``nats_bench`` unpickles its ``.pbz2`` files fully,
as it always has: use files from a trusted source.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Iterator

from .base import PATH_KEY, Oracle, TruthError

# dataset -> (setting of valid_acc / train_* keys, setting of test_acc)
SETTINGS: dict[str, tuple[str, str]] = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120"),
}
HPS = (("200", ""), ("12", "_12ep"))  # (benchmark hp, suffix of the standard keys)
NATS_EXT = "pickle.pbz2"


def _numpy_safe_globals() -> list:
    """numpy scalar/array reconstruction, for ``torch.serialization.safe_globals``."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    out: list = [np.dtype, np.ndarray]
    for fn in (multiarray.scalar, multiarray._reconstruct):
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
            out.append((fn, f"{mod}.{fn.__name__}"))
    for t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
              np.uint8, np.bool_, np.complex128):
        out.append(type(np.dtype(t)))
    return out


@contextlib.contextmanager
def _full_pickle_load() -> Iterator[None]:
    """Make ``torch.load`` calls without ``weights_only`` unpickle fully (torch's documented switch)."""
    key, old = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ[key] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
            yield
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


class _ApiOracle(Oracle):
    """Shared query logic of the two API-backed benchmarks (same ``get_more_info`` interface)."""

    api: Any

    def _index(self, arch: str) -> int:
        index = self.api.query_index_by_arch(arch)
        if index < 0:
            raise self._missing(arch, "not among its architectures")
        self._ensure_loaded(arch, index)
        return index

    def _ensure_loaded(self, arch: str, index: int) -> None:
        if index not in self.api.arch2infos_dict:
            raise self._missing(arch, f"benchmark index {index} has no results")

    def _info(self, index: int, setting: str, hp: str) -> dict[str, Any] | None:
        """``get_more_info`` of one setting and hp; None when the file has no such results."""
        hp2res = self.api.arch2infos_dict[index]
        if hp not in hp2res or setting not in hp2res[hp].get_dataset_names():
            return None
        return self.api.get_more_info(index, setting, iepoch=None, hp=hp, is_random=False)

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        index = self._index(arch)
        valid_setting, test_setting = SETTINGS[dataset]
        out: dict[str, Any] = {}
        for hp, suffix in HPS:
            v = self._info(index, valid_setting, hp)
            t = v if test_setting == valid_setting else self._info(index, test_setting, hp)
            if v is not None:
                out[f"valid_acc{suffix}"] = v.get("valid-accuracy")
                out[f"train_seconds_{hp}ep"] = v.get("train-all-time")
                if hp == "200":
                    out["train_loss"] = v.get("train-loss")
            if t is not None:
                out[f"test_acc{suffix}"] = t.get("test-accuracy")
        return out


class NB201Oracle(_ApiOracle):
    """NAS-Bench-201 ``.pth`` file through ``nas_201_api.NASBench201API``."""

    kind = "nb201"

    def __init__(self, path: Path, allow_pickle: bool = False):
        super().__init__(path)
        import torch
        from nas_201_api import NASBench201API

        try:
            if allow_pickle:
                with _full_pickle_load():
                    self.api = NASBench201API(str(path), verbose=False)
            else:
                with torch.serialization.safe_globals(_numpy_safe_globals()):
                    self.api = NASBench201API(str(path), verbose=False)
        except pickle.UnpicklingError as err:
            if allow_pickle:
                raise TruthError(f"{PATH_KEY} = {str(path)!r} is not a NAS-Bench-201 .pth file: {err}") from err
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r}: torch's safe (weights_only) loader refused the file "
                f"({_first_line(err)}). If it is the official NAS-Bench-201 file from a trusted source, "
                f"load it with allow_pickle=True (config truth.allow_pickle: true), which unpickles it fully."
            ) from None
        except MemoryError:
            raise
        except Exception as err:  # corrupt or foreign file: any unpickling error; the API asserts the keys
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r} is not a NAS-Bench-201 .pth file ({type(err).__name__}: {err})"
            ) from err


class NATSTopologyOracle(_ApiOracle):
    """NATS-Bench topology benchmark through ``nats_bench.create(path, 'tss', ...)``.

    ``fast_mode=None`` picks what the path allows: a directory is read lazily (``True``, one
    pickle per architecture on first query), a file is loaded whole (``False``).
    """

    kind = "nats_tss"

    def __init__(self, path: Path, fast_mode: bool | None = None):
        super().__init__(path)
        import nats_bench

        if fast_mode is None:
            fast_mode = path.is_dir()
        try:
            self.api = nats_bench.create(str(path), "tss", fast_mode=fast_mode, verbose=False)
        except MemoryError:
            raise
        except Exception as err:  # corrupt or foreign file: any unpickling error; the API checks the keys
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r} is not a NATS-Bench topology benchmark ({type(err).__name__}: {err})"
            ) from err

    def _ensure_loaded(self, arch: str, index: int) -> None:
        """In fast mode, load the architecture's own file (what the package's ``_prepare_info`` does)."""
        api = self.api
        if index not in api.arch2infos_dict and api.fast_mode and api.archive_dir is not None:
            root = Path(api.archive_dir)
            files = [root / f"{index:06d}.{NATS_EXT}", root / f"{index}.{NATS_EXT}"]
            if not any(f.is_file() for f in files):
                raise self._missing(arch, f"no file {files[0].name} for benchmark index {index}")
            api.reload(str(root), index)
        super()._ensure_loaded(arch, index)


def _first_line(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if "Unsupported global" in ln or "GLOBAL" in ln]
    return lines[0] if lines else str(err).splitlines()[0]
