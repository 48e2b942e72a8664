"""What a running Campaigner process holds: settings, database, queue, plugins.

The web app and a worker both start one with `start_runtime`; tasks and domain
services reach it with `current_runtime()`, so nothing below the views needs Flask.
"""
from __future__ import annotations

from dataclasses import dataclass

from campaigner.db import connect_database
from campaigner.plugins import PluginManager, build_plugin_manager
from campaigner.queue import configure_queue


@dataclass
class Runtime:
    settings: dict
    plugins: PluginManager


_current: Runtime | None = None


def start_runtime(settings: dict) -> Runtime:
    """Connect the database and the queue, build the plugin manager; make it current."""
    global _current
    connect_database(settings["DATABASE_URL"], pool_size=settings["DATABASE_POOL_SIZE"])
    configure_queue(settings["QUEUE_URL"], name=settings.get("QUEUE_NAME", "campaigner"))
    _current = Runtime(settings=settings, plugins=build_plugin_manager(settings))
    return _current


def current_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("Campaigner is not started: call start_runtime(settings) first")
    return _current
