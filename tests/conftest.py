"""Test configuration: put tests/ on sys.path (for ``reference.*`` official-style implementations)
and locate ../shared (reference data that tests, but never the product, may read)."""
import os
import pathlib
import sys

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

SHARED = pathlib.Path(os.environ.get("KNAS_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    d = SHARED / "data"
    if not (d / "nb201_accuracy.csv").exists():
        pytest.skip(f"reference data not found at {d}")
    return d
