"""Forms of the analytics pages: what a channel's message costs, and KPI goals."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from campaigner.analytics.models import KPI_METRICS

METRIC_LABELS = {
    "active_rate": _l("Active rate (% of contacts who clicked or ordered)"),
    "interaction_rate": _l("Interaction rate (% of contacts reached who clicked)"),
    "conversions_growth": _l("Conversions growth (% over the period before)"),
    "conversions": _l("Conversions (orders attributed to clicks)"),
    "revenue": _l("Revenue from conversions"),
    "unique_clicks": _l("Unique clicks"),
    "net_growth": _l("Net contact growth (joins minus losses)"),
    "retention_rate": _l("Retention rate (% of last period's active contacts active again)"),
    "repurchase_rate": _l("Repurchase rate (% of buyers who bought twice or more)"),
    "coupon_redemption": _l("Coupon redemption (% of issued codes redeemed)"),
}
PERCENT_METRICS = ("active_rate", "interaction_rate", "conversions_growth", "retention_rate", "repurchase_rate",
                   "coupon_redemption")


class ChannelCostForm(FlaskForm):
    channel = StringField(_l("Channel"), validators=[DataRequired(), Length(max=60)])
    cost = DecimalField(_l("Cost per message"), places=4,
                        validators=[InputRequired(), NumberRange(min=0, max=1000)])


class GoalForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    metric = SelectField(_l("Metric"), choices=[SelectChoice(m, METRIC_LABELS[m]) for m in KPI_METRICS])
    target = DecimalField(_l("Target"), places=2, validators=[InputRequired(), NumberRange(min=-1000, max=1e12)])
    period_start = DateField(_l("From"), validators=[InputRequired()])
    period_end = DateField(_l("To (included)"), validators=[InputRequired()])

    def validate_period_end(self, field):
        if self.period_start.data and field.data and field.data < self.period_start.data:
            raise ValidationError(_l("The period ends before it starts."))
