"""Validation and masking of channel configs against their schema."""
from __future__ import annotations

from urllib.parse import urlparse

from campaigner.channels import ConfigError, ConfigField

MASK = "••••••"


def validate_config(schema: tuple[ConfigField, ...], config: dict) -> dict:
    """Check `config` against `schema`; return it cleaned or raise ConfigError."""
    cleaned, errors = {}, {}
    for f in schema:
        value = config.get(f.name)
        if value in (None, ""):
            if f.required and f.default in (None, ""):
                errors[f.name] = "required"
                continue
            value = f.default
            cleaned[f.name] = value
            continue
        try:
            if f.type == "integer":
                value = int(value)
            elif f.type == "boolean":
                value = value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes", "on"}
            elif f.type == "url":
                parsed = urlparse(str(value))
                if parsed.scheme not in {"http", "https"} or not parsed.netloc:
                    raise ValueError("not an http(s) URL")
            elif f.type == "email":
                if "@" not in str(value):
                    raise ValueError("not an email address")
            elif f.type == "choice" and value not in f.choices:
                raise ValueError(f"one of {', '.join(f.choices)}")
        except (TypeError, ValueError) as exc:
            errors[f.name] = str(exc) or "invalid"
            continue
        cleaned[f.name] = value
    if errors:
        raise ConfigError(errors)
    return cleaned


def mask_config(schema: tuple[ConfigField, ...], config: dict) -> dict:
    """A copy of `config` safe to show: secret values replaced by a mask."""
    secret = {f.name for f in schema if f.secret}
    return {k: (MASK if k in secret and v else v) for k, v in config.items()}
