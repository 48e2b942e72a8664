"""Background work of short links: after-click processing and conversion attribution."""
from __future__ import annotations

from huey import crontab

from campaigner.db import database
from campaigner.queue import huey


@huey.task()
def process_clicks_task():
    """Tag and announce newly written clicks (triggered by the click writer)."""
    from campaigner.links.clicks import process_clicks

    with database.connection_context():
        while process_clicks():  # one bounded chunk per call, until none is left
            continue


@huey.periodic_task(crontab(minute="*"))
def sweep_clicks():
    """Process clicks whose trigger was lost (a restarted worker, a full queue)."""
    process_clicks_task.call_local()


@huey.periodic_task(crontab(minute="*/10"))
def attribute_recent_conversions():
    """Attribute orders of the last days to the last click before them."""
    from campaigner.links.attribution import attribute_recent

    with database.connection_context():
        attribute_recent()


@huey.task()
def reattribute_all_conversions():
    """Attribute every order again (after the attribution window changed, or on request)."""
    from campaigner.links.attribution import attribute_all

    with database.connection_context():
        return attribute_all()
