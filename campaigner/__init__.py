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
]


def create_app(config: dict | None = None):
    """Build the Flask app; `config` overrides settings (keys without the CAMPAIGNER_ prefix)."""
    from campaigner.app import create_app as _create_app

    return _create_app(config)
