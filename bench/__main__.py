"""Run all benchmarks, or those named: python -m bench [name ...]."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    for module in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if module.name.startswith("_") or (wanted and module.name not in wanted):
            continue
        print(f"== bench.{module.name}", flush=True)
        importlib.import_module(f"bench.{module.name}").main()


if __name__ == "__main__":
    main()
