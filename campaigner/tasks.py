"""The modules that declare Huey tasks, imported by every consumer.

An explicit list, so which tasks a worker knows never depends on import order.
"""
import campaigner.maintenance  # noqa: F401
import campaigner.links.tasks  # noqa: F401
import campaigner.deliveries.tasks  # noqa: F401
import campaigner.analytics.tasks  # noqa: F401
import campaigner.audience.tasks  # noqa: F401
import campaigner.offers.tasks  # noqa: F401
import campaigner.reports.tasks  # noqa: F401
import campaigner.inbound.tasks  # noqa: F401
import campaigner.wecom.tasks  # noqa: F401
