"""Periodic housekeeping tasks of the core."""
from __future__ import annotations

from huey import crontab

from campaigner.db import database, utcnow
from campaigner.public_address import adopt_stored_address
from campaigner.queue import huey
from campaigner.runtime import current_runtime
from campaigner.settings_store import set_value


@huey.periodic_task(crontab(minute="*"))
def heartbeat():
    """Prove the scheduler and database are alive; ops see its time on the dashboard.

    A worker in its own process also takes up where `campaigner web` now
    listens, for the links it builds (BASE_URL unset; see public_address).
    """
    with database.connection_context():
        set_value("worker_heartbeat", utcnow().isoformat())
        adopt_stored_address(current_runtime().settings)
