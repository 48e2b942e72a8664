"""The task queue: one Huey instance whose storage is chosen from ``QUEUE_URL``.

Tasks are declared at import time with ``@huey.task()``, before any settings are
read, so the instance exists from the start and `configure_queue` swaps its
storage later (SqliteHuey's or RedisHuey's). The queue is only a trigger: every
task re-reads its row and does nothing when the row says there is nothing to do,
because Huey's dequeue is destructive and a killed worker loses what it held.
This module imports no Flask.
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import urlparse

from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

log = logging.getLogger(__name__)


class CampaignerHuey(Huey):
    storage_class = MemoryStorage


huey = CampaignerHuey("campaigner", results=False, utc=True)


def configure_queue(url: str, name: str = "campaigner") -> Huey:
    """Point the shared Huey at the storage named by `url` (sqlite:///path, redis://..., memory://)."""
    parsed = urlparse(url)
    huey.name = name
    if parsed.scheme == "sqlite":
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": parsed.path, "timeout": 15}
    elif parsed.scheme == "redis":
        huey.storage_class = RedisStorage
        huey.storage_kwargs = {"url": url}
    else:
        huey.storage_class = MemoryStorage
        huey.storage_kwargs = {}
    huey.storage = huey.create_storage()
    return huey


def load_tasks() -> None:
    """Import every module that declares tasks, so a consumer knows them all."""
    import campaigner.tasks  # noqa: F401


class Worker:
    """A Huey consumer (worker threads + scheduler) run inside this process."""

    def __init__(self, workers: int = 4, periodic: bool = True):
        load_tasks()
        # Short polling intervals: SqliteHuey polls, and its default back-off
        # (up to 10 s idle) would make scheduled sends late.
        self.consumer = huey.create_consumer(
            workers=workers, worker_type="thread", periodic=periodic,
            initial_delay=0.05, backoff=1.15, max_delay=0.5, scheduler_interval=1,
            check_worker_health=True,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.consumer.start()

    def run_forever(self) -> None:
        """Run with Huey's own signal handling (SIGINT/SIGTERM stop it gracefully)."""
        self.consumer.run()

    def stop(self) -> None:
        self.consumer.stop(graceful=True)
