"""Why an import row (or a field of it) was refused or noted: a reason code and its parameters.

Validators are plain functions with no request and no language, so they record a code and
the values it names (`RowError.code`, `RowError.params`), never a sentence. The page, the
error report and the API render the sentence when they show it, in the reader's language:
`reason_text(code, params, gettext)`. The English `reason` kept beside the code is for logs,
the command line and API clients that read text.
"""
from __future__ import annotations

from typing import Callable


def _(text: str) -> str:
    """Mark a message for translation; `reason_text` translates it when it is shown."""
    return text


REASONS = {
    # phone numbers
    "phone_empty": _("the phone number is empty"),
    "phone_not_a_number": _("“%(value)s” is not a phone number"),
    "phone_too_short": _("“%(value)s” is too short for a phone number"),
    "phone_too_long": _("“%(value)s” is too long for a phone number"),
    "phone_bad_country": _("“%(value)s” has no valid country code"),
    "phone_not_mobile_range": _("“%(value)s” is not in a mobile range (mobile numbers start 13–19)"),
    "phone_not_valid": _("“%(value)s” is not a valid phone number"),
    "phone_unverified": _("“%(value)s” is possible but not in a range known to be allocated: kept, tagged phone_unverified"),
    # other contact fields
    "email_invalid": _("“%(value)s” is not an email address"),
    "timezone_unknown": _("“%(value)s” is not a time zone (e.g. Asia/Shanghai)"),
    "too_long": _("longer than 255 characters"),
    "not_text": _("%(field)s must be text"),
    "tag_invalid": _("“%(value)s” is not a tag: use name or group:name"),
    "tag_too_long": _("the tag “%(value)s…” is longer than %(limit)s characters"),
    "no_identifier": _("no external id, phone, email, chat id or openid"),
    "not_an_object": _("each contact is a JSON object"),
    "not_lists": _("tags and opt_outs are lists"),
    "attributes_invalid": _("attributes must be an object of text, number or true/false values"),
    # what happened to a row that was kept
    "merged": _("merged into contact #%(contact)s"),
    "merged_other_id": _("merged into contact #%(contact)s, whose external id %(kept)s was kept"),
    # orders
    "amount_invalid": _("“%(value)s” is not an amount"),
    "amount_negative": _("“%(value)s” is not an amount of zero or more"),
    "amount_too_large": _("“%(value)s” is too large"),
    "time_empty": _("the time is empty"),
    "time_invalid": _("“%(value)s” is not a date and time (YYYY-MM-DD HH:MM)"),
    "order_no_contact_column": _("no contact: give an external id, phone or email"),
    "order_contact_missing": _("no contact has this external id, phone or email"),
    "order_id_twice": _("this order id appears twice in the file"),
}

# Said after a warning whose value was left out while the row was imported.
LEFT_OUT = _("left out; the rest of the row was imported")

VALUE_CHARS = 60  # how much of a bad value a report repeats


def shown_value(raw) -> str:
    """A bad value as a report repeats it: text, cut short."""
    text = str(raw if raw is not None else "")
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + "…"


def reason_text(code: str, params: dict | None = None, translate: Callable[[str], str] = lambda s: s,
                *, left_out: bool = False, fallback: str = "") -> str:
    """The sentence for a reason code, translated by `translate` (gettext) and filled in with `params`."""
    template = REASONS.get(code)
    if template is None:
        return fallback or code
    text = translate(template) % (params or {}) if params else translate(template)
    if left_out:
        text += " — " + translate(LEFT_OUT)
    return text
