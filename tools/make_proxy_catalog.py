"""Write src/knas/proxies/catalog.json from the live proxy registry.

The catalog is the registry without its functions, so that the workflow's parse and the search
drivers read every proxy's declaration (direction, options, shared passes, members) without
importing torch. Run after adding a proxy or changing a registration (a test compares them):

    python tools/make_proxy_catalog.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from knas.proxies.registry import write_catalog  # noqa: E402

if __name__ == "__main__":
    print(write_catalog())
