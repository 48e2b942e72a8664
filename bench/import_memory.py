"""One import in a process of its own, for `bench import`'s memory figures: ``python -m bench.import_memory FILE BACKEND``.

Prints one JSON line: rows, seconds, the process's peak RSS before the import (app and
database started) and after it. A process of its own, so the peak is the import's and not
the benchmark's (which generates the file and holds its rows). The peak is the kernel's VmHWM
of this process's memory: getrusage's ru_maxrss would start from the parent's high-water
mark, which Linux hands down through fork and exec.
"""
from __future__ import annotations

import json
import sys
import time

from bench.common import fresh_app
from bench.import_csv import MAPPING


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(path: str, backend: str) -> dict:
    from campaigner.audience import importer
    from campaigner.audience.models import Contact
    from campaigner.db import database

    with fresh_app(backend), database.connection_context():
        before = peak_rss_mb()
        start = time.perf_counter()
        outcome = importer.import_contacts(path, MAPPING)
        seconds = time.perf_counter() - start
        count = Contact.select().count()
    if not outcome.imported or count != outcome.created:
        raise AssertionError(f"import wrote {count} contacts: {[e.reason for e in outcome.errors[:3]]}")
    return {"rows": outcome.total, "created": outcome.created, "seconds": round(seconds, 2),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
