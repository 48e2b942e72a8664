"""Campaigner's hook specifications (pluggy project name ``campaigner``).

Hooks use the ``register_*(register)`` shape where a plugin contributes things:
the core passes a callback, so signatures stay stable as options grow.
Every hook is documented in docs/plugins.md (a test fails when one is not).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("campaigner")
hookimpl = pluggy.HookimplMarker("campaigner")


@hookspec
def register_channels(register):
    """Register delivery channels: call ``register(channel)`` with a `campaigner.Channel` instance.

    Called once per plugin manager. The instance is a template without config;
    the engine sends through configured copies (`Channel.with_config`).
    """


@hookspec
def register_blueprints(register):
    """Add Flask blueprints (inbound webhooks, extra pages): call ``register(blueprint)``.

    Views need a signed-in user unless marked with `campaigner.web.public`.
    """


@hookspec
def delivery_event(event, delivery, details):
    """React to a delivery event: ``event`` is one of sent, delivered, failed, clicked, opted_out.

    ``delivered`` (and ``failed`` with ``details["receipt"]``) come from a provider's delivery receipt.

    ``delivery`` is the `Delivery` row (None when the event has no delivery,
    e.g. an opt-out from a test message); ``details`` is a dict (error,
    provider_id, url, channel, source ... depending on the event). Every
    implementation runs even when another raises; failures are logged with
    the plugin's name and never affect the delivery. Implementations run in
    the sending worker: keep them quick and enqueue slow work.
    """


@hookspec
def register_coupon_providers(register):
    """Let a shop system (有赞, 微盟, WeChat Pay vouchers) issue and redeem coupon codes: call
    ``register(provider)`` with a `campaigner.CouponProvider`.

    A batch naming the provider keeps its stock and per-contact limit here and
    asks the provider for each code as a delivery claims a slot; a redemption
    recorded here is passed on with ``provider.redeem``.
    """


@hookspec
def register_inbound_receivers(register):
    """Register inbound receivers: call ``register(receiver)`` with a `campaigner.InboundReceiver` instance.

    A receiver answers callbacks at ``/hooks/<receiver.provider>/<account>``: it checks and parses
    each request into `campaigner.Received` events, which the core writes to the inbound ledger
    before answering; a worker later calls ``receiver.process(event)`` once per stored event.
    """


@hookspec
def contact_event(event):
    """React to something a contact did: ``event`` is a `campaigner.events.models.Event` row.

    ``event.kind`` is one of joined, left, joined_group, left_group, tag_added, tag_removed,
    order_placed, link_clicked, replied; ``event.contact_id``, ``event.staff``, ``event.group``,
    ``event.source`` and ``event.details`` say who, where and how. Called after the change that
    recorded it committed; every implementation runs even when another raises. Runs in the worker
    or request that recorded it: keep it quick and enqueue slow work.
    """
