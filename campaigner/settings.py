"""Settings: defaults, an optional instance config file, then the environment.

Every setting can come from the environment as ``CAMPAIGNER_<NAME>``. A wrong
value stops the start with a `SettingsError` naming the setting, because a
half-configured service that starts anyway fails later and more obscurely.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "CAMPAIGNER_"
# Where links point when BASE_URL is unset and no server has said where it listens yet.
FALLBACK_BASE_URL = "http://127.0.0.1:8000"
CONFIG_FILE = "campaigner.toml"

# name -> default (None: derived from the instance folder when left unset)
DEFAULTS: dict[str, object] = {
    "INSTANCE_PATH": None,
    "DATABASE_URL": None,
    "DATABASE_POOL_SIZE": 20,
    "QUEUE_URL": None,
    "SECRET_KEY": None,
    "TIMEZONE": "Asia/Shanghai",
    "BASE_URL": None,  # unset: follows where `up`/`web` listen (campaigner.public_address)
    "LINK_BASE_URL": None,
    "PLUGINS_DIR": None,
    "ADMIN_EMAIL": "admin@example.com",
    "ADMIN_PASSWORD": None,
    "LOGIN_RATE_LIMIT": "10 per minute",
    "SESSION_IDLE_MINUTES": 720,  # a session unused this long ends
    "LINK_INTERNAL_HOSTS": "",  # comma-separated internal hosts short links may point to
    "WORKERS": 4,
    "IMPORT_MATCH_ORDER": "external_id,phone,email",  # which identifier finds an existing contact first
}


class SettingsError(ValueError):
    """A setting has a value Campaigner cannot run with."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{PREFIX}{name}: {message}")
        self.name = name


def default_instance_path() -> Path:
    return Path.cwd() / "instance"


def load_settings(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Merge defaults, the instance config file, the environment and overrides; validate."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    instance = Path(
        overrides.get("INSTANCE_PATH")
        or environ.get(PREFIX + "INSTANCE_PATH")
        or default_instance_path()
    ).resolve()
    instance.mkdir(parents=True, exist_ok=True)

    settings = dict(DEFAULTS)
    config_file = instance / CONFIG_FILE
    if config_file.exists():
        try:
            from_file = tomllib.loads(config_file.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("INSTANCE_PATH", f"{config_file} is not valid TOML: {exc}") from exc
        settings.update({k.upper(): v for k, v in from_file.items()})
    for name in DEFAULTS:
        if PREFIX + name in environ:
            settings[name] = environ[PREFIX + name]
    settings.update(overrides)
    settings["INSTANCE_PATH"] = str(instance)

    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'campaigner.db'}"
    if not settings["QUEUE_URL"]:
        settings["QUEUE_URL"] = f"sqlite:///{instance / 'queue.db'}"
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _instance_secret(instance)
    # Whether the addresses were chosen, or may follow where the server listens.
    settings["BASE_URL_SET"] = bool(settings["BASE_URL"])
    settings["LINK_BASE_URL_SET"] = bool(settings["LINK_BASE_URL"])
    if not settings["BASE_URL"]:
        settings["BASE_URL"] = FALLBACK_BASE_URL
    if not settings["LINK_BASE_URL"]:
        settings["LINK_BASE_URL"] = settings["BASE_URL"]
    _validate(settings)
    return settings


def _instance_secret(instance: Path) -> str:
    """Generate the secret key once and keep it, so sessions survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _validate(settings: dict) -> None:
    db_scheme = urlparse(str(settings["DATABASE_URL"])).scheme
    if db_scheme not in {"sqlite", "postgres", "postgresql"}:
        raise SettingsError("DATABASE_URL", f"unsupported scheme {db_scheme!r}; use sqlite:/// or postgresql://")
    queue_scheme = urlparse(str(settings["QUEUE_URL"])).scheme
    if queue_scheme not in {"sqlite", "redis", "memory"}:
        raise SettingsError("QUEUE_URL", f"unsupported scheme {queue_scheme!r}; use sqlite:/// or redis://")
    try:
        ZoneInfo(str(settings["TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("TIMEZONE", f"unknown time zone {settings['TIMEZONE']!r}") from None
    for name in ("BASE_URL", "LINK_BASE_URL"):
        parsed = urlparse(str(settings[name]))
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise SettingsError(name, f"{settings[name]!r} is not an http(s) URL")
    for name in ("WORKERS", "DATABASE_POOL_SIZE", "SESSION_IDLE_MINUTES"):
        try:
            settings[name] = int(settings[name])
            if settings[name] < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise SettingsError(name, f"{settings[name]!r} is not a positive whole number") from None
    order = [n.strip() for n in str(settings["IMPORT_MATCH_ORDER"]).split(",") if n.strip()]
    if not order or not set(order) <= {"external_id", "phone", "email", "chat_id", "openid"}:
        raise SettingsError("IMPORT_MATCH_ORDER", f"{settings['IMPORT_MATCH_ORDER']!r} is not a list of "
                            "external_id, phone, email, chat_id, openid")
    if len(str(settings["SECRET_KEY"])) < 16:
        raise SettingsError("SECRET_KEY", "must be at least 16 characters")
