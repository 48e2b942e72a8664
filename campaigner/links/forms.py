"""Forms of the short-links pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class LinkForm(FlaskForm):
    label = StringField(_l("Label"), validators=[Length(max=200)])
    target = StringField(_l("Target address"), validators=[DataRequired(), Length(max=4000)])
    expires_at = DateTimeLocalField(_l("Expires at"), format="%Y-%m-%dT%H:%M", validators=[Optional()])


class LinkOptionsForm(FlaskForm):
    default_expiry_days = IntegerField(_l("Campaign links expire after (days, 0 = never)"),
                                       validators=[InputRequired(), NumberRange(min=0, max=3650)])
    utm_enabled = BooleanField(_l("Add UTM parameters to campaign links"))
    utm_source = StringField(_l("utm_source"), validators=[Length(max=100)])
    interest_tags = BooleanField(_l("When a contact clicks, tag them interest:TAG for each tag of the content"))
    attribution_days = IntegerField(_l("Attribution window (days)"), validators=[InputRequired(), NumberRange(min=1, max=90)])


class CampaignExpiryForm(FlaskForm):
    days = IntegerField(_l("This campaign's short links expire after (days, 0 = never)"),
                        validators=[Optional(), NumberRange(min=0, max=3650)])
    redate_issued = BooleanField(_l("Also change the links already sent (counted from when each was sent)"))
