"""What every benchmark shares: a fresh database of its own, realistic data, timing, memory."""
from __future__ import annotations

import contextlib
import os
import random
import resource
import tempfile
import time
import uuid

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
LATIN = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jack", "Lucas", "Mia"]


def person_name(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    return f"{rng.choice(LATIN)} {rng.choice(LATIN)}son"


def cn_mobile(rng: random.Random) -> str:
    return f"+86{rng.choice(['135', '138', '139', '150', '186', '188'])}{rng.randint(0, 99999999):08d}"


def zipf_index(rng: random.Random, n: int, s: float = 1.1) -> int:
    """An index in [0, n) with Zipf-like popularity (a few tags are on most contacts)."""
    while True:
        k = int(rng.paretovariate(s))
        if k <= n:
            return k - 1


@contextlib.contextmanager
def fresh_app(backend: str, **extra):
    """An app on a new database (SQLite file or a new PostgreSQL database), removed afterwards."""
    from campaigner import create_app
    from campaigner.db import close_all_connections, database
    from campaigner.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="campaigner-bench-") as tmp:
        config = {"INSTANCE_PATH": os.path.join(tmp, "instance"), "SECRET_KEY": "bench-secret-key-0123456789",
                  "QUEUE_NAME": f"bench-{uuid.uuid4().hex[:8]}", **extra}
        dbname = None
        if backend == "postgres":
            import psycopg2

            dbname = f"campaigner_bench_{uuid.uuid4().hex[:8]}"
            admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
            admin.autocommit = True
            admin.cursor().execute(f'CREATE DATABASE "{dbname}"')
            config["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
            config.setdefault("QUEUE_URL", "redis://127.0.0.1:6379/0")
        try:
            app = create_app(config)
            with database.connection_context():
                upgrade()
            yield app
        finally:
            close_all_connections()  # pooled ones too, or DROP DATABASE finds them open
            if dbname:
                cur = admin.cursor()
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s", (dbname,))
                cur.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
                admin.close()


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def best_of(fn, repeat: int = 5) -> float:
    """The fastest of `repeat` runs of fn(), in seconds (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def result(name: str, backend: str, n: int, value: float, unit: str, *, baseline=None, baseline_unit=None,
           ratio=None, target: str = "", **details) -> dict:
    """A result in the shape docs/benchmarks.md describes."""
    return {"name": name, "backend": backend, "n": n, "value": round(value, 3), "unit": unit,
            "baseline": None if baseline is None else round(baseline, 3), "baseline_unit": baseline_unit,
            "ratio": None if ratio is None else round(ratio, 3), "target": target, "details": details}
