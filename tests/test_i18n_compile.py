"""Two processes starting at once on one instance folder both compile the translations without tripping on each other."""
from __future__ import annotations

import multiprocessing

from babel.messages.mofile import read_mo


def _compile_many(instance: str, barrier, rounds: int, errors) -> None:
    from campaigner.i18n import compile_catalogs

    barrier.wait()
    for _ in range(rounds):
        try:
            compile_catalogs(instance)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
            errors.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_compiling_into_one_instance_folder_at_once_both_succeed(tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    errors = context.Queue()
    processes = [context.Process(target=_compile_many, args=(str(tmp_path), barrier, 15, errors)) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0, 0]
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found
    compiled = list(tmp_path.glob("translations/*/LC_MESSAGES/*"))
    # One complete catalogue per locale, no temporary file left behind.
    assert compiled and all(p.name == "messages.mo" for p in compiled), compiled
    zh = next(p for p in compiled if "zh" in str(p))
    with zh.open("rb") as fh:
        assert len(read_mo(fh)) > 10
