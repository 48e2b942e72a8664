"""The connected WeCom corps ("accounts"): read from the `wecom` channel's config.

The channel's config holds one account in its own fields (corp id, customer-contact secret,
callback token, EncodingAESKey) and any further ones in ``more_accounts``, a JSON list of objects
with the same keys plus ``name``. Secrets never show: `WecomAccount`'s repr masks them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from campaigner.channels import ConfigError
from campaigner.plugins import configured_channel

CHANNEL = "wecom"
DEFAULT_API = "https://qyapi.weixin.qq.com/cgi-bin/"
ACCOUNT_KEYS = ("name", "corp_id", "secret", "callback_token", "encoding_aes_key", "api_base_url", "tag_groups")


@dataclass(frozen=True)
class WecomAccount:
    """One WeCom corp Campaigner is connected to."""

    name: str
    corp_id: str
    secret: str = field(repr=False)
    callback_token: str = field(default="", repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    api_base_url: str = DEFAULT_API
    tag_groups: tuple[str, ...] = ()  # WeCom tag groups kept in sync with local tag groups of the same name


def _account(values: dict, where: str) -> WecomAccount:
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 64 or not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
        raise ConfigError({where: f"account name {name!r}: ASCII letters, digits, - and _ (at most 64)"})
    for key in ("corp_id", "secret"):
        if not str(values.get(key) or "").strip():
            raise ConfigError({where: f"account {name}: {key} is required"})
    aes = str(values.get("encoding_aes_key") or "").strip()
    if aes and len(aes) != 43:
        raise ConfigError({where: f"account {name}: the EncodingAESKey has 43 characters"})
    groups = values.get("tag_groups") or ()
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",")]
    base = str(values.get("api_base_url") or DEFAULT_API).strip()
    return WecomAccount(name=name, corp_id=str(values["corp_id"]).strip(), secret=str(values["secret"]).strip(),
                        callback_token=str(values.get("callback_token") or "").strip(), encoding_aes_key=aes,
                        api_base_url=base if base.endswith("/") else base + "/",
                        tag_groups=tuple(g for g in groups if g))


def accounts_from_config(config: dict) -> dict[str, WecomAccount]:
    """Every account in a `wecom` channel config, by name (raises ConfigError naming the bad field)."""
    found = {}
    if config.get("corp_id") or config.get("secret"):
        first = _account({**config, "name": config.get("account") or "main"}, "corp_id")
        found[first.name] = first
    raw = config.get("more_accounts") or ""
    if str(raw).strip():
        try:
            extra = json.loads(raw)
        except ValueError as exc:
            raise ConfigError({"more_accounts": f"not JSON: {exc}"}) from None
        if not isinstance(extra, list) or not all(isinstance(item, dict) for item in extra):
            raise ConfigError({"more_accounts": "a JSON list of objects"})
        for item in extra:
            account = _account(item, "more_accounts")
            if account.name in found:
                raise ConfigError({"more_accounts": f"account {account.name} is named twice"})
            found[account.name] = account
    return found


def wecom_accounts() -> dict[str, WecomAccount]:
    """The configured accounts of the running process (empty when the channel is missing or not configured)."""
    try:
        channel = configured_channel(CHANNEL)
    except (LookupError, ConfigError):
        return {}
    return accounts_from_config(channel.config)


class UnknownAccount(LookupError):
    """No WeCom account of that name is configured."""


def wecom_account(name: str) -> WecomAccount:
    """The configured account `name` (raises UnknownAccount)."""
    account = wecom_accounts().get(name)
    if account is None:
        raise UnknownAccount(name)
    return account
