"""The words a page shows for what is stored as a code or as English: statuses, audit actions, audit
summaries and the engine's pause reasons, each through the catalogue in the reader's language.

Templates call the globals `status_label(kind, value)`, `action_label(action)`,
`audit_summary(entry)` and `status_reason(text)` (registered by `register`), so a stored code never
reaches a page as it is stored.
"""
from __future__ import annotations

import re

from flask_babel import gettext, lazy_pgettext

from campaigner.accounts.forms import ROLE_LABELS
from campaigner.campaigns.forms import DELIVERY_STATUS_LABELS, REASON_LABELS, STATUS_LABELS as CAMPAIGN_STATUS_LABELS
from campaigner.content.forms import STATUS_LABELS as CONTENT_STATUS_LABELS
from campaigner.localtime import localtime


def _(text: str) -> str:
    """Mark a message for translation; it is translated where it is shown."""
    return text


STATUSES = {"campaign": CAMPAIGN_STATUS_LABELS, "delivery": DELIVERY_STATUS_LABELS, "content": CONTENT_STATUS_LABELS,
            "reason": REASON_LABELS, "role": ROLE_LABELS}

# Every action `record_audit` is called with; "audit" tells these verbs from the same words used as states.
ACTIONS = {
    "created": lazy_pgettext("audit", "created"), "changed": lazy_pgettext("audit", "changed"),
    "deleted": lazy_pgettext("audit", "deleted"), "recomputed": lazy_pgettext("audit", "recomputed"),
    "test_sent": lazy_pgettext("audit", "test sent"), "scheduled": lazy_pgettext("audit", "scheduled"),
    "rotated_feed_token": lazy_pgettext("audit", "feed address renewed"),
    "retried": lazy_pgettext("audit", "retried"), "opted_in": lazy_pgettext("audit", "opted in"),
    "imported": lazy_pgettext("audit", "imported"), "applied_template": lazy_pgettext("audit", "template applied"),
    "added_slot": lazy_pgettext("audit", "slot added"), "uploaded": lazy_pgettext("audit", "uploaded"),
    "untagged": lazy_pgettext("audit", "untagged"), "unscheduled": lazy_pgettext("audit", "unscheduled"),
    "tagged": lazy_pgettext("audit", "tagged"), "swapped": lazy_pgettext("audit", "swapped"),
    "signed_in": lazy_pgettext("audit", "signed in"), "revoked": lazy_pgettext("audit", "revoked"),
    "resumed": lazy_pgettext("audit", "resumed"), "restored": lazy_pgettext("audit", "restored"),
    "rescheduled": lazy_pgettext("audit", "rescheduled"), "removed_slot": lazy_pgettext("audit", "slot removed"),
    "queued": lazy_pgettext("audit", "queued"), "paused": lazy_pgettext("audit", "paused"),
    "opted_out": lazy_pgettext("audit", "opted out"), "moved": lazy_pgettext("audit", "moved"),
    "changed_status": lazy_pgettext("audit", "status changed"),
    "changed_password": lazy_pgettext("audit", "password changed"), "cancelled": lazy_pgettext("audit", "cancelled"),
    "assigned_content": lazy_pgettext("audit", "content assigned"), "rejected": lazy_pgettext("audit", "rejected"),
}

# What an audit entry is about (`AuditLog.object_type`: a model's name, or a word the service chose).
OBJECTS = {
    "campaign": lazy_pgettext("audit object", "campaign"), "delivery": lazy_pgettext("audit object", "delivery"),
    "importjob": lazy_pgettext("audit object", "import"), "contentitem": lazy_pgettext("audit object", "content"),
    "content": lazy_pgettext("audit object", "content"), "content_fields": lazy_pgettext("audit object", "content fields"),
    "calendar": lazy_pgettext("audit object", "calendar"), "calendarentry": lazy_pgettext("audit object", "calendar entry"),
    "contact": lazy_pgettext("audit object", "contact"), "tag": lazy_pgettext("audit object", "tag"),
    "taggroup": lazy_pgettext("audit object", "tag group"), "segment": lazy_pgettext("audit object", "segment"),
    "user": lazy_pgettext("audit object", "user"), "apitoken": lazy_pgettext("audit object", "API token"),
    "channel": lazy_pgettext("audit object", "channel"), "channel_cost": lazy_pgettext("audit object", "channel cost"),
    "shortlink": lazy_pgettext("audit object", "short link"), "link_options": lazy_pgettext("audit object", "link options"),
    "attribution": lazy_pgettext("audit object", "attribution"), "rfm": lazy_pgettext("audit object", "RFM"),
    "goal": lazy_pgettext("audit object", "goal"), "mediafile": lazy_pgettext("audit object", "media file"),
}

# The engine stores why it paused a campaign as English (`Campaign.status_reason`); these are the
# sentences it writes, so the page can say them in the reader's language. A reason typed by a person
# is shown as typed.
PAUSE_REASONS = {
    "content is no longer approved": _("content is no longer approved"),
}
PAUSE_PATTERNS = [
    (re.compile(r"^paused itself after (?P<errors>\d+) consecutive send errors; last: (?P<last>.*)$", re.S),
     _("paused itself after %(errors)s consecutive send errors; last: %(last)s")),
]


def status_label(kind: str, value) -> str:
    """A stored status (campaign, delivery, content) or skip reason as the reader reads it."""
    label = STATUSES.get(kind, {}).get(value)
    return str(label) if label is not None else str(value or "")


def object_label(object_type: str) -> str:
    label = OBJECTS.get(object_type)
    return str(label) if label is not None else object_type


def action_label(action: str) -> str:
    label = ACTIONS.get(action)
    return str(label) if label is not None else action


def audit_summary(entry) -> str:
    """An audit entry's summary in the reader's language when it was recorded with `audit.says`; else as stored.

    A parameter named ``at`` is a UTC time and reads in the reader's zone.
    """
    details = entry.details if isinstance(entry.details, dict) else {}
    said = details.get("says")
    if not isinstance(said, dict) or "message" not in said:
        return entry.summary or ""
    params = {k: (localtime(v) if k == "at" else v) for k, v in (said.get("params") or {}).items()}
    return gettext(said["message"], **params)


def status_reason(text: str | None) -> str:
    """Why a campaign stopped, in the reader's language when the engine wrote it."""
    if not text:
        return ""
    if text in PAUSE_REASONS:
        return gettext(PAUSE_REASONS[text])
    for pattern, message in PAUSE_PATTERNS:
        found = pattern.match(text)
        if found:
            return gettext(message, **found.groupdict())
    return text


def register(app) -> None:
    app.jinja_env.globals.update(status_label=status_label, action_label=action_label, object_label=object_label,
                                 audit_summary=audit_summary,
                                 status_reason=status_reason)
