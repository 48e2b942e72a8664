"""Forms of the offers pages: a new coupon batch, more codes for one, and a campaign's batch."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, DecimalField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from campaigner.offers.services import MAX_CODES

KIND_LABELS = {"amount": _l("Amount off (yuan)"), "percent": _l("Percent off")}


class BatchForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, v) for k, v in KIND_LABELS.items()])
    value = DecimalField(_l("Value"), places=2, validators=[InputRequired(), NumberRange(min=0.01, max=1e9)])
    per_contact_limit = IntegerField(_l("Codes per contact at most"), default=1,
                                     validators=[InputRequired(), NumberRange(min=1, max=1000)])
    starts_at = DateTimeLocalField(_l("Valid from"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    ends_at = DateTimeLocalField(_l("Valid until"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    provider = SelectField(_l("Codes from"), choices=[], validate_choice=True)
    count = IntegerField(_l("Generate this many codes"), validators=[Optional(), NumberRange(min=1, max=MAX_CODES)])
    prefix = StringField(_l("Code prefix"), validators=[Optional(), Length(max=12)])
    codes = TextAreaField(_l("Or import codes (one a line)"), validators=[Optional()])

    def validate_ends_at(self, field):
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The window ends before it starts."))


class CodesForm(FlaskForm):
    count = IntegerField(_l("Generate this many codes"), validators=[Optional(), NumberRange(min=1, max=MAX_CODES)])
    prefix = StringField(_l("Code prefix"), validators=[Optional(), Length(max=12)])
    codes = TextAreaField(_l("Or import codes (one a line)"), validators=[Optional()])


class CampaignOfferForm(FlaskForm):
    batch = SelectField(_l("Coupon batch"), choices=[], coerce=int, validate_choice=True)
