"""The calendar pages' forms."""
from __future__ import annotations

from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from campaigner.content.models import KINDS as CONTENT_KINDS

WEEKDAY_NAMES = {0: _l("Monday"), 1: _l("Tuesday"), 2: _l("Wednesday"), 3: _l("Thursday"), 4: _l("Friday"),
                 5: _l("Saturday"), 6: _l("Sunday")}


def _known_zone(form, field):
    if field.data not in available_timezones():
        raise ValidationError(_l("Unknown time zone."))


class CalendarForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice("moments", _l("Moments (朋友圈)")),
                                              SelectChoice("community", _l("Community (社群)"))])
    channel = SelectField(_l("Channel"), choices=[])
    audience = TextAreaField(_l("Audience expression"), validators=[Optional(), Length(max=4000)],
                             render_kw={"rows": 2, "placeholder": 'tag:vip AND NOT tag:"rfm:H"'})
    segment = SelectField(_l("Or a saved segment"), choices=[], coerce=int, validate_choice=False)
    groups = TextAreaField(_l("Groups it posts to (one tag key per line)"), validators=[Optional()],
                           render_kw={"rows": 3, "placeholder": "group:coffee-fans-1"})
    timezone = StringField(_l("Time zone"), default="Asia/Shanghai", validators=[DataRequired(), _known_zone])
    min_gap_minutes = IntegerField(_l("Minimum gap between touches to one audience (minutes)"), default=120,
                                   validators=[InputRequired(), NumberRange(min=0, max=10080)])

    def group_list(self) -> list[str]:
        return [line.strip() for line in (self.groups.data or "").splitlines() if line.strip()]


class SlotForm(FlaskForm):
    weekday = SelectField(_l("Weekday"), choices=[SelectChoice(day, name) for day, name in WEEKDAY_NAMES.items()],
                          coerce=int)
    time = TimeField(_l("Time"), validators=[InputRequired()])
    theme = StringField(_l("Theme"), validators=[Optional(), Length(max=200)])
    content_kind = SelectField(_l("Content kind"),
                               choices=[SelectChoice("", "—"), *[SelectChoice(k) for k in CONTENT_KINDS]],
                               validators=[Optional()])
    content = SelectField(_l("Fixed content"), choices=[], coerce=int, validate_choice=False)
    rotation_tag = StringField(_l("Or rotate through approved content tagged"), validators=[Optional(), Length(max=100)])

    def validate_rotation_tag(self, field):
        if field.data and field.data.strip() and self.content.data:
            raise ValidationError(_l("Choose fixed content or a rotation tag, not both."))


class ApplyForm(FlaskForm):
    start = DateField(_l("From the week of"), validators=[InputRequired()])
    weeks = IntegerField(_l("Weeks"), default=1, validators=[InputRequired(), NumberRange(min=1, max=53)])


class EntryForm(FlaskForm):
    date = DateField(_l("Date"), validators=[InputRequired()])
    time = TimeField(_l("Time"), validators=[InputRequired()])
    theme = StringField(_l("Theme"), validators=[Optional(), Length(max=200)])
    content = SelectField(_l("Content"), choices=[], coerce=int, validate_choice=False)
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 2})


class DetailsForm(FlaskForm):
    theme = StringField(_l("Theme"), validators=[Optional(), Length(max=200)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 2})


class ContentForm(FlaskForm):
    content = SelectField(_l("Content"), choices=[], coerce=int, validate_choice=False)


class MoveForm(FlaskForm):
    date = DateField(_l("Date"), validators=[InputRequired()])
    time = TimeField(_l("Time"), validators=[InputRequired()])
    tz = StringField(validators=[Optional(), _known_zone])


class SwapForm(FlaskForm):
    other = SelectField(_l("Swap times with"), choices=[], coerce=int, validate_choice=False)


class ActionForm(FlaskForm):
    """A button that posts: approve, unschedule, delete, rotate the feed token."""
