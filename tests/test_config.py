"""The config schema's enums follow the library's registries; config checks work in-process."""
from pathlib import Path

import pytest
import yaml

from knas import proxies
from knas.config import ConfigError, MissingInputError, check_config, is_dry_run

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def prop(*path):
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node


def test_proxy_enums_match_the_registry():
    assert sorted(prop("scoring", "proxies")["items"]["enum"]) == proxies.names()
    assert sorted(prop("select", "proxy")["enum"]) == sorted(proxies.names() + list(proxies.COMBINED))


def test_dataset_enum_matches_the_data_registry():
    from knas.data import DATASETS

    assert sorted(prop("data", "dataset")["enum"]) == sorted(DATASETS)


def test_benchmark_and_strategy_enums_match():
    from knas.search import load_all
    from knas.truth import BENCHMARKS

    assert sorted(prop("truth", "benchmark")["enum"]) == sorted(BENCHMARKS)
    runs = prop("search", "runs")["additionalProperties"]["properties"]["strategy"]["enum"]
    assert sorted(runs) == sorted(load_all())


def test_every_leaf_has_a_description():
    def walk(node, path):
        if node.get("type") == "object" and "properties" in node:
            for k, v in node["properties"].items():
                walk(v, path + [k])
        elif path:
            assert node.get("description"), f"{'.'.join(path)} has no description"

    walk(SCHEMA, [])


@pytest.mark.parametrize("argv,dry", [
    (["snakemake", "-n"], True), (["snakemake", "-pn", "--cores", "2"], True),
    (["snakemake", "--dry-run"], True), (["snakemake", "--cores", "2"], False),
    (["snakemake", "-c", "2", "--configfile", "n.yaml"], False),
])
def test_dry_run_detection(argv, dry):
    assert is_dry_run(argv) is dry


def test_check_config_messages(tmp_path):
    with pytest.raises(ConfigError, match=r"sample.archs\[1\].*allowed"):
        check_config({"sample": {"archs": [
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"]}})
    with pytest.raises(MissingInputError, match="truth.path"):
        check_config({"truth": {"benchmark": "nb201", "path": str(tmp_path / "missing.pth")}})
    f = tmp_path / "archs.txt"
    f.write_text("# my list\n|none~0|+|none~0|none~1|+|none~0|none~1|bad~2|\n")
    with pytest.raises(ConfigError, match="sample.file"):
        check_config({"sample": {"file": str(f)}})


def test_the_parse_path_imports_no_torch():
    """What the Snakefile imports when it parses (config checks, data specs, the sample, the
    proxy catalog, the search drivers' declarations) must not import torch (slow, and a GPU build
    initialises CUDA). A fresh interpreter, so nothing else has imported it already."""
    import subprocess
    import sys

    code = (
        "import sys, yaml\n"
        "from knas.config import check_config\n"
        "from knas.data import raw_files, url_of\n"
        "from knas.study import sample_table\n"
        "from knas.nb201 import arch_of\n"
        "from knas.utils import atomic_path, read_table, write_table\n"
        "from knas import proxies\n"
        "import knas.search, knas.search.teg, knas.analysis, knas.study.tables\n"
        f"cfg = yaml.safe_load(open({str(ROOT / 'config.yaml')!r}))\n"
        "cfg.setdefault('data', {}).setdefault('root', 'resources/data')\n"
        "check_config(cfg)\n"
        "sample_table(16, 0)\n"
        "proxies.pass_groups(cfg['scoring']['proxies'])\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not bad, bad[:5]\n"
    )
    src = str(ROOT / "src")
    res = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": src, "PATH": ""},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
