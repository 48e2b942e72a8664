"""Offer work on the worker: codes of failed sends go back to stock every few minutes."""
from __future__ import annotations

from huey import crontab

from campaigner.db import database
from campaigner.offers.coupons import release_unsent
from campaigner.queue import huey


@huey.periodic_task(crontab(minute="*/5"))
def release_unsent_coupons():
    """Put back in stock the codes reserved by deliveries that ended failed, skipped or cancelled."""
    with database.connection_context():
        return release_unsent()
