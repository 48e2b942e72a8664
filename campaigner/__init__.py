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
    "Message",
    "PermanentError",
    "SendResult",
    "TransientError",
    "UnknownChannel",
    "append_to_outbox",
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
    "unsubscribe_url": ("campaigner.unsubscribe", "unsubscribe_url"),  # the contact's signed opt-out link
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
