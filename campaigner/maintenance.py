"""Periodic housekeeping tasks of the core."""
from __future__ import annotations

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey


@huey.periodic_task(crontab(minute="*"))
def heartbeat():
    """Prove the scheduler and database are alive; ops see its time on the dashboard."""
    from campaigner.settings_store import set_value
    from campaigner.db import utcnow

    with database.connection_context():
        set_value("worker_heartbeat", utcnow().isoformat())
