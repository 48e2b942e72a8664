"""The contract a shop plugin (有赞, 微盟, WeChat Pay vouchers) implements to issue and redeem codes in its system.

A batch whose `provider` names one of these keeps slots instead of codes: the
stock and the per-contact limit are still held here (a slot is claimed like a
code), and the provider is asked for the code of a slot once it is claimed.
"""
from __future__ import annotations


class CouponProvider:
    """Subclass and register from ``register_coupon_providers``; `name` is what a batch's provider names."""

    name: str = ""
    label: str = ""

    def issue(self, batch, contact) -> str:
        """Create one code for `contact` in the shop for `batch` and return it; raise to fail that delivery."""
        raise NotImplementedError

    def redeem(self, batch, code: str, order) -> None:
        """Mark `code` used in the shop (`order` is the Order, or None when redeemed without one); raise to refuse."""
        raise NotImplementedError


def coupon_providers(plugins) -> dict[str, CouponProvider]:
    """The coupon providers the plugins of a plugin manager register, by name."""
    found: dict[str, CouponProvider] = {}

    def register(provider: CouponProvider) -> None:
        if not getattr(provider, "name", ""):
            raise ValueError("a coupon provider needs a name")
        found[provider.name] = provider

    plugins.pm.hook.register_coupon_providers(register=register)
    return found
