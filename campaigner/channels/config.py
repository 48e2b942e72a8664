"""Channel configs: where they come from, how they are validated, how secrets are masked.

A channel's config lives in the database (`settings_store` key ``channel:<name>``,
edited on the Plugins page or through the API) and any field can be set from
the environment as ``CAMPAIGNER_CHANNEL_<NAME>_<FIELD>`` (or in
``campaigner.toml`` as ``CHANNEL_<NAME>_<FIELD>``), which wins over the
database: deployments keep secrets out of the database that way.
"""
from __future__ import annotations

import os
import re
from urllib.parse import urlparse

from flask_babel import lazy_gettext as _

from campaigner.channels import ConfigError, ConfigField

MASK = "••••••"
STORE_PREFIX = "channel:"


# ---------------------------------------------------------------- validation


def validate_config(schema: tuple[ConfigField, ...], config: dict) -> dict:
    """Check `config` against `schema`; return it cleaned (unknown keys dropped) or raise ConfigError."""
    cleaned, errors = {}, {}
    for f in schema:
        value = config.get(f.name)
        if isinstance(value, str) and f.type != "text":
            value = value.strip()
        if value in (None, ""):
            if f.required and f.default in (None, ""):
                errors[f.name] = _("required")
                continue
            cleaned[f.name] = f.default
            continue
        try:
            cleaned[f.name] = _clean_value(f, value)
        except ValueError as exc:
            errors[f.name] = exc.args[0] if exc.args else _("invalid")
    if errors:
        raise ConfigError(errors)
    return cleaned


def _clean_value(f: ConfigField, value):
    if f.type == "integer":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(_("not a whole number")) from None
        if f.min is not None and number < f.min:
            raise ValueError(_("at least %(min)d") % {"min": f.min})
        if f.max is not None and number > f.max:
            raise ValueError(_("at most %(max)d") % {"max": f.max})
        return number
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on", "y"}:
            return True
        if text in {"0", "false", "no", "off", "n"}:
            return False
        raise ValueError(_("yes or no"))
    value = str(value)
    if f.type == "url":
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(_("not an http(s) URL"))
    elif f.type == "email":
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value):
            raise ValueError(_("not an email address"))
    elif f.type == "choice" and value not in f.choices:
        raise ValueError(_("one of: %(choices)s") % {"choices": ", ".join(f.choices)})
    return value


def mask_config(schema: tuple[ConfigField, ...], config: dict) -> dict:
    """A copy of `config` safe to show: secret values replaced by a mask."""
    secret = {f.name for f in schema if f.secret}
    return {k: (MASK if k in secret and v not in (None, "") else v) for k, v in config.items()}


# ---------------------------------------------------------------- sources


def env_name(channel_name: str, field_name: str) -> str:
    """The environment variable that sets a field: CAMPAIGNER_CHANNEL_SMS_TOKEN."""
    return "CAMPAIGNER_" + _settings_key(channel_name, field_name)


def _settings_key(channel_name: str, field_name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", f"CHANNEL_{channel_name}_{field_name}".upper())


def environment_config(channel, settings: dict | None = None, environ: dict | None = None) -> dict:
    """The fields of `channel` set from the environment (or the instance config file)."""
    environ = os.environ if environ is None else environ
    settings = settings or {}
    found = {}
    for f in channel.config_schema:
        key = _settings_key(channel.name, f.name)
        if "CAMPAIGNER_" + key in environ:
            found[f.name] = environ["CAMPAIGNER_" + key]
        elif key in settings:
            found[f.name] = settings[key]
    return found


def stored_config(channel_name: str) -> dict:
    """The config saved in the database for a channel (needs a connection)."""
    from campaigner.settings_store import get_value

    value = get_value(STORE_PREFIX + channel_name)
    return dict(value) if isinstance(value, dict) else {}


def effective_config(channel, settings: dict | None = None, environ: dict | None = None) -> dict:
    """The raw config a channel runs with: the database's, overridden by the environment."""
    return {**stored_config(channel.name), **environment_config(channel, settings, environ)}


def config_problems(channel, settings: dict | None = None, environ: dict | None = None) -> dict[str, str]:
    """Field -> what is wrong with the channel's effective config; empty when it is valid."""
    try:
        channel.validate_config(effective_config(channel, settings, environ))
    except ConfigError as exc:
        return exc.errors
    return {}


def save_config(channel, submitted: dict, settings: dict | None = None, environ: dict | None = None) -> dict:
    """Validate and store a channel's config; return what was stored (raises ConfigError).

    A secret submitted empty or as the mask keeps its stored value, so a form
    that never shows secrets can be saved without retyping them. Fields set by
    the environment are validated as they are but not stored.
    """
    from campaigner.settings_store import set_value

    stored = stored_config(channel.name)
    from_env = environment_config(channel, settings, environ)
    merged = {}
    for f in channel.config_schema:
        value = submitted.get(f.name)
        if f.secret and (value in (None, "") or value == MASK):
            value = stored.get(f.name)
        if f.type == "boolean" and value is None:
            value = False  # an unticked checkbox is not sent at all
        merged[f.name] = value
    cleaned = channel.validate_config({**merged, **from_env})
    to_store = {k: v for k, v in cleaned.items() if k not in from_env}
    set_value(STORE_PREFIX + channel.name, to_store)
    return to_store
