"""Who may do what: the one table of named permissions that pages and the API both check.

A view names the permission it needs with ``@requires("content.write")`` (or one per
method: ``@requires("audience.read", POST="audience.write")``). The check runs in a
``before_request`` hook, after the sign-in (pages) or the token (API) is known and
before the view's body reads anything, so a forbidden role always gets 403 — never
a 404 or 422 that tells it what exists or what is wrong with its request.

README's role table is `role_table()`; tests/test_permissions.py holds the two equal
and walks every URL rule and API operation for every role against `PERMISSIONS`.
Nothing here imports Flask.
"""
from __future__ import annotations

from campaigner.accounts.models import ROLES

EVERYONE = ("editor", "ops", "developer")

# permission -> (roles that hold it besides admin, what it allows, for README's table)
PERMISSIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "account.self": (EVERYONE, "their own settings, password, API tokens and sign-out"),
    "dashboard.view": (EVERYONE, "the dashboard"),
    "content.read": (EVERYONE, "read the content library, its versions and previews"),
    "content.write": (("editor",), "write, approve, import and delete content; media; personalisation fields"),
    "calendars.read": (EVERYONE, "read calendars and their entries"),
    "calendars.write": (("editor",), "plan calendars: entries, slots, templates, feeds"),
    "campaigns.read": (EVERYONE, "read campaigns, their progress and audience counts"),
    "campaigns.write": (("editor",), "create, edit, schedule and reschedule campaigns"),
    "campaigns.operate": (("ops",), "pause, resume, cancel campaigns and retry their failures"),
    "audience.read": (EVERYONE, "read tags and segments and count audiences (no personal data)"),
    "contacts.read_pii": (("editor", "ops"), "read contacts' personal data: contacts, timelines, orders, "
                                             "dry-run samples, RFM super users"),
    "audience.write": (("editor",), "manage the audience: contacts, opt-outs, tags, segments, imports, RFM"),
    "contacts.export": (("editor", "ops"), "export the audience as CSV"),
    "orders.write": (("editor", "ops", "developer"), "record orders from a shop system"),
    "deliveries.read": (("editor", "ops"), "read the delivery log (it shows addresses)"),
    "deliveries.operate": (("ops",), "retry deliveries"),
    "deliveries.export": (("ops",), "export the delivery log as CSV"),
    "audit.read": (("ops",), "read the audit log"),
    "analytics.read": (EVERYONE, "read funnels, goals, channel costs and the RFM trend"),
    "analytics.write": (("ops",), "set goals, channel costs and attribution; take RFM snapshots"),
    "offers.read": (EVERYONE, "read coupon batches and what their codes came to"),
    "offers.write": (("editor", "ops"), "make coupon batches, add codes and give campaigns a batch"),
    "coupons.redeem": (("ops", "developer"), "redeem coupon codes from a shop system or till"),
    "reports.read": (EVERYONE, "read and export the weekly review, cohorts, source value, fan tiers and lifecycle "
                               "(totals, no personal data)"),
    "reports.write": (("editor", "ops"), "write review notes, set fan tier rules and lifecycle thresholds"),
    "links.read": (EVERYONE, "read short links and their click counts"),
    "links.write": (("editor", "ops"), "create and edit short links and campaign link expiry"),
    "links.clicks": (("editor", "ops"), "read and export single clicks and the links export"),
    "links.configure": (("ops",), "set the short-link options (UTM, expiry, attribution)"),
    "plugins.read": (("developer", "ops"), "see plugins and channel settings"),
    "channels.configure": (("developer",), "configure channels and send test messages"),
    "wecom.read": (EVERYONE, "read WeCom staff, customer group sizes and syncs (members and customers need "
                             "contacts.read_pii)"),
    "wecom.operate": (("ops",), "start and resume WeCom syncs"),
    "inbound.read": (("ops", "developer"), "read the inbound log (payloads need contacts.read_pii)"),
    "inbound.operate": (("ops",), "process failed inbound events again"),
    "users.manage": ((), "manage users and their roles"),
}

assert all(set(roles) <= set(ROLES) for roles, _ in PERMISSIONS.values())


def roles_with(permission: str) -> tuple[str, ...]:
    """The roles that hold `permission` (admin always does); KeyError for an unknown name."""
    return (*PERMISSIONS[permission][0], "admin")


def allows(role: str | None, permission: str) -> bool:
    """Whether `role` holds `permission`."""
    return role is not None and role in roles_with(permission)


def requires(permission: str, **by_method: str):
    """Mark a view as needing `permission` (or, for the methods named, another one); checked before its body."""
    for name in (permission, *by_method.values()):
        roles_with(name)  # a misspelt permission fails at import, not at request time

    def decorator(view):
        view.permission = permission
        view.permission_by_method = {method.upper(): name for method, name in by_method.items()}
        return view

    return decorator


def permission_for(view, method: str) -> str | None:
    """The permission `view` declares for `method`, or None when it declares none."""
    by_method = getattr(view, "permission_by_method", {})
    return by_method.get(method.upper(), getattr(view, "permission", None))


def role_table() -> str:
    """README's role table, as Markdown: each permission and the roles that hold it."""
    lines = ["| permission | editor | ops | developer | admin | allows |", "|---|---|---|---|---|---|"]
    for name, (roles, what) in PERMISSIONS.items():
        marks = " | ".join("✓" if role in roles or role == "admin" else "" for role in ROLES)
        lines.append(f"| `{name}` | {marks} | {what} |")
    return "\n".join(lines)


def can(user, permission: str) -> bool:
    """Whether `user` (signed in, or an API token's user) holds `permission`; what pages use to show or hide actions."""
    return bool(getattr(user, "is_authenticated", False)) and allows(getattr(user, "role", None), permission)
