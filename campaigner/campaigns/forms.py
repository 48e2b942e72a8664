"""The campaign builder form, and the names of statuses and skip reasons people see."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l, lazy_pgettext
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateTimeLocalField, IntegerField, RadioField, SelectChoice, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

STATUS_LABELS = {
    "draft": _l("Draft"), "scheduled": _l("Scheduled"), "running": _l("Sending"), "paused": _l("Paused"),
    "completed": _l("Completed"), "cancelled": _l("Cancelled"),
}
DELIVERY_STATUS_LABELS = {
    "queued": _l("Queued"), "sending": _l("Sending"), "sent": _l("Sent"), "delivered": _l("Delivered"),
    "failed": _l("Failed"), "skipped": _l("Skipped"), "deferred": _l("Deferred"), "unknown": _l("Unknown"), "cancelled": _l("Cancelled"),
}
REASON_LABELS = {
    "opted_out": _l("opted out"), "no_address": _l("no address on the channel"), "capped": _l("frequency cap"),
    "quiet_hours": _l("quiet hours"), "contact_deleted": _l("contact deleted"),
    "campaign_cancelled": _l("campaign cancelled"), "rate_limited": _l("provider rate limit"),
    "duplicate_address": _l("another contact has the same address"),
}


def resolved(labels: dict) -> dict:
    """Lazy labels translated now, for templates that use them many times."""
    return {key: str(value) for key, value in labels.items()}


HHMM = r"^([01]?\d|2[0-3]):[0-5]\d$"


class CampaignForm(FlaskForm):
    """The campaign builder."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    content = SelectField(_l("Content (approved items)"), coerce=int, validators=[DataRequired()])
    channel_1 = SelectField(_l("Channel"), validators=[DataRequired()])
    channel_2 = SelectField(_l("Else, fallback channel"), validators=[Optional()])
    channel_3 = SelectField(_l("Else, second fallback"), validators=[Optional()])
    audience_mode = RadioField(_l("Audience"), choices=[SelectChoice("expression", _l("Tag expression")),
                                                       SelectChoice("segment", _l("Saved segment"))],
                               default="expression")
    audience = TextAreaField(_l("Audience expression (empty: everyone)"), render_kw={"rows": 2},
                             validators=[Length(max=4000)])
    segment = SelectField(_l("Saved segment"), coerce=lambda v: int(v) if v not in (None, "", "None") else None,
                          validators=[Optional()])
    # "When" here is the choice of when to send (发送时机), elsewhere a time column (时间).
    send_mode = RadioField(lazy_pgettext("schedule", "When"), default="now",
                           choices=[SelectChoice("now", _l("Now, once scheduled")), SelectChoice("at", _l("At a time")),
                                    SelectChoice("cron", _l("Recurring (cron)"))])
    send_at = DateTimeLocalField(_l("Send at"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    timezone = SelectField(_l("Time zone"))
    cron = StringField(_l("Cron expression"), validators=[Optional(), Length(max=100)],
                       render_kw={"placeholder": "0 9 * * 1"})
    throttle_per_minute = IntegerField(_l("Throttle (messages a minute, empty: no limit)"),
                                       validators=[Optional(), NumberRange(min=1)])
    cap_day = IntegerField(_l("Cap a day (empty: the instance's; 0: none)"), validators=[Optional(), NumberRange(min=0)])
    cap_week = IntegerField(_l("Cap a week (empty: the instance's; 0: none)"),
                            validators=[Optional(), NumberRange(min=0)])
    quiet_start = StringField(_l("Quiet hours from"), validators=[Optional(), Regexp(HHMM, message=_l("Use HH:MM."))],
                              render_kw={"placeholder": "21:00"})
    quiet_end = StringField(_l("Quiet hours until"), validators=[Optional(), Regexp(HHMM, message=_l("Use HH:MM."))],
                            render_kw={"placeholder": "09:00"})
    quiet_off = BooleanField(_l("No quiet hours for this campaign"))

    def setup(self, contents, channels, segments, default_tz: str) -> "CampaignForm":
        """Fill the choices: approved content, installed channels, saved segments, time zones."""
        self.content.choices = [SelectChoice(c.id, c.title) for c in contents]
        names = [SelectChoice(name, str(channel.label or name)) for name, channel in sorted(channels.items())]
        self.channel_1.choices = names
        self.channel_2.choices = self.channel_3.choices = [SelectChoice("", _l("— none —")), *names]
        self.segment.choices = [SelectChoice("", _l("— choose —")), *[SelectChoice(s.id, s.name) for s in segments]]
        self.timezone.choices = [SelectChoice(zone) for zone in sorted(available_timezones())]
        if not self.timezone.data:
            self.timezone.data = default_tz
        return self

    def channels(self) -> list[str]:
        return [c for c in (self.channel_1.data, self.channel_2.data, self.channel_3.data) if c]

    def caps(self) -> dict | None:
        caps = {k: v for k, v in (("day", self.cap_day.data), ("week", self.cap_week.data)) if v is not None}
        return caps or None

    def quiet_hours(self) -> dict | None:
        if self.quiet_off.data:
            return {"enabled": False}
        if self.quiet_start.data and self.quiet_end.data:
            return {"start": self.quiet_start.data, "end": self.quiet_end.data}
        return None
