"""Campaigner's hook specifications (pluggy project name ``campaigner``).

Hooks use the ``register_*(register)`` shape where a plugin contributes things:
the core passes a callback, so signatures stay stable as options grow.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("campaigner")
hookimpl = pluggy.HookimplMarker("campaigner")


@hookspec
def register_channels(register):
    """Register delivery channels: call ``register(channel)`` with a `campaigner.Channel` instance."""


@hookspec
def register_blueprints(register):
    """Add Flask blueprints (for inbound webhooks and extra pages): call ``register(blueprint)``."""


@hookspec
def delivery_event(event, delivery, details):
    """React to a delivery event: ``event`` is one of sent, failed, clicked, opted_out.

    Every implementation runs even when another raises; failures are logged
    with the plugin's name and never affect the delivery.
    """
