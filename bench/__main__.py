"""Run one benchmark, or all: each prints one JSON object on its last line of stdout."""
from __future__ import annotations

import argparse
import importlib
import json
import sys

# name -> module in bench/ with run(args) -> dict (the JSON result)
BENCHMARKS = {
    "fanout": "fanout",
    "gateway": "gateway",
    "lateness": "lateness",
    "logs": "logs",
    "audience": "audience",
    "import": "import_csv",
    "redirect": "redirect",
    "calendar": "calendar",
    "content": "content",
    "reports": "reports",
    "inbound": "inbound",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--quick", action="store_true", help="smaller data, same path (under a minute)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--save", action="store_true", help="also write bench/results/NAME-BACKEND.json")
    args = parser.parse_args(argv)
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.{BENCHMARKS[name]}")
        try:
            result = module.run(args)
        except Exception as exc:  # a benchmark that could not do its work prints no figure
            print(f"{name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        line = json.dumps(result, ensure_ascii=False)
        print(line, flush=True)
        if args.save:
            from pathlib import Path

            out = Path(__file__).parent / "results" / f"{name}-{args.backend}.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(line + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
