"""Campaigner: plan, send and check private-domain content.

The public API for plugins is what this module exports; plugins import nothing else.
"""
from campaigner.channels import (
    Capabilities,
    Channel,
    ChannelError,
    ConfigError,
    ConfigField,
    ContentLimits,
    Message,
    PermanentError,
    SendResult,
    TransientError,
    UnknownChannel,
)
from campaigner.hookspecs import hookimpl, hookspec
from campaigner.inbound.receivers import InboundReceiver, InboundRejected, InboundRequest, Received, Reply

__all__ = [
    "create_app",
    "hookimpl",
    "hookspec",
    "Capabilities",
    "Channel",
    "ChannelError",
    "ConfigError",
    "ConfigField",
    "ContentLimits",
    "CouponProvider",
    "Message",
    "PermanentError",
    "SendResult",
    "TransientError",
    "UnknownChannel",
    "InboundReceiver",
    "InboundRejected",
    "InboundRequest",
    "Received",
    "Reply",
    "append_to_outbox",
    "configured_channel",
    "find_contact_by_address",
    "get_token",
    "invalidate_token",
    "is_opt_out_reply",
    "opt_out_contact",
    "record_contact_event",
    "record_delivery_receipt",
    "record_inbound_event",
    "refresh_token",
    "store_value",
    "stored_value",
    "WecomApiError",
    "WecomClient",
    "announce_wecom_tag_change",
    "apply_wecom_add_callbacks",
    "apply_wecom_callback",
    "decode_wecom_callback",
    "verify_wecom_url",
    "wecom_accounts",
    "wecom_accounts_from_config",
    "wecom_identity",
    "lazy_gettext",
    "markdown_to_html",
    "markdown_to_text",
    "outbox_path",
    "personalize",
    "post_json",
    "public",
    "render_subject",
    "strike_markdown",
    "text_for_channel",
    "unsubscribe_url",
]

# Imported on first use, so `import campaigner` stays light for workers and plugins.
_LAZY = {
    "lazy_gettext": ("flask_babel", "lazy_gettext"),  # mark a plugin's UI strings for translation
    "markdown_to_html": ("campaigner.content.rendering", "markdown_to_html"),
    "markdown_to_text": ("campaigner.content.rendering", "markdown_to_text"),
    "personalize": ("campaigner.content.rendering", "personalize"),
    "text_for_channel": ("campaigner.content.rendering", "text_for_channel"),
    "render_subject": ("campaigner.content.rendering", "render_subject"),  # subject line: own, item's or title
    "strike_markdown": ("campaigner.content.rendering", "strike_markdown"),  # for dialects without ~~
    "public": ("campaigner.web", "public"),  # for views of plugin blueprints reachable without login
    "post_json": ("campaigner.channels.http", "post_json"),  # HTTP with the contract's error mapping
    "outbox_path": ("campaigner.channels.outbox", "outbox_path"),
    "append_to_outbox": ("campaigner.channels.outbox", "append_to_outbox"),
    "CouponProvider": ("campaigner.offers.providers", "CouponProvider"),  # shop plugins issuing codes
    "unsubscribe_url": ("campaigner.unsubscribe", "unsubscribe_url"),  # the contact's signed opt-out link
    "configured_channel": ("campaigner.plugins", "configured_channel"),  # a channel with its config (receivers)
    # The token store every process shares (WeCom, WeChat, SMS provider tokens; small values with a TTL).
    "get_token": ("campaigner.token_store", "get_token"),
    "refresh_token": ("campaigner.token_store", "refresh_token"),
    "invalidate_token": ("campaigner.token_store", "invalidate_token"),
    "store_value": ("campaigner.token_store", "store_value"),
    "stored_value": ("campaigner.token_store", "stored_value"),
    # Inbound: the ledger and what receivers do with its events.
    "record_inbound_event": ("campaigner.inbound.services", "record_inbound_event"),
    "find_contact_by_address": ("campaigner.inbound.actions", "find_contact_by_address"),
    "opt_out_contact": ("campaigner.inbound.actions", "opt_out_contact"),
    "is_opt_out_reply": ("campaigner.inbound.actions", "is_opt_out_reply"),
    "record_delivery_receipt": ("campaigner.deliveries.receipts", "record_delivery_receipt"),
    "record_contact_event": ("campaigner.events.services", "record_event"),  # joined, replied, … (contact_event hook)
    # WeCom, for the built-in wecom plugin and any plugin building on the same corps.
    "WecomClient": ("campaigner.wecom.client", "WecomClient"),
    "WecomApiError": ("campaigner.wecom.client", "WecomApiError"),
    "wecom_accounts_from_config": ("campaigner.wecom.accounts", "accounts_from_config"),
    "wecom_accounts": ("campaigner.wecom.accounts", "wecom_accounts"),
    "wecom_identity": ("campaigner.wecom.services", "identity_of"),
    "verify_wecom_url": ("campaigner.wecom.callbacks", "verify_url"),
    "decode_wecom_callback": ("campaigner.wecom.callbacks", "decode_callback"),
    "apply_wecom_callback": ("campaigner.wecom.callbacks", "apply_callback"),
    "apply_wecom_add_callbacks": ("campaigner.wecom.callbacks", "apply_add_callbacks"),
    "announce_wecom_tag_change": ("campaigner.wecom.tasks", "announce_tag_change"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'campaigner' has no attribute {name!r}")


def create_app(config: dict | None = None):
    """Build the Flask app; `config` overrides settings (keys without the CAMPAIGNER_ prefix)."""
    from campaigner.app import create_app as _create_app

    return _create_app(config)
