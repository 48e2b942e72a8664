"""Forms of the report pages: a goal's PDCA notes, the fan tier rules, the lifecycle thresholds."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, FieldList, FormField, HiddenField, IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from campaigner.reports.fan_tiers import TIERS

TIER_LABELS = {"iron": _l("Iron fans (铁杆)"), "devoted": _l("Devoted fans (真爱)"), "strong": _l("Big spenders (实力)"),
               "regular": _l("Regular fans (普通)"), "potential": _l("Potential fans (潜力)")}
STAGE_LABELS = {"new": _l("New"), "active": _l("Active"), "silent": _l("Silent"), "at_risk": _l("At risk"),
                "churned": _l("Churned"), "won_back": _l("Won back")}


class GoalNotesForm(FlaskForm):
    plan_note = TextAreaField(_l("Plan: what we set out to do"), validators=[Length(max=4000)])
    outcome_note = TextAreaField(_l("Check: what happened"), validators=[Length(max=4000)])
    next_note = TextAreaField(_l("Act: what changes next period"), validators=[Length(max=4000)])


class TierRuleForm(FlaskForm):
    class Meta:
        csrf = False  # a row of TierRulesForm, which carries the token

    tier = HiddenField()
    min_spend = DecimalField(_l("Spent at least"), places=2, validators=[InputRequired(), NumberRange(min=0, max=1e12)])
    min_orders = IntegerField(_l("Orders at least"), validators=[InputRequired(), NumberRange(min=0, max=100000)])
    min_engagement = IntegerField(_l("Clicks at least"), validators=[InputRequired(), NumberRange(min=0, max=100000)])


class TierRulesForm(FlaskForm):
    engagement_days = IntegerField(_l("Count clicks of the last (days)"),
                                   validators=[InputRequired(), NumberRange(min=1, max=3650)])
    rules = FieldList(FormField(TierRuleForm), min_entries=len(TIERS), max_entries=len(TIERS))


class LifecycleForm(FlaskForm):
    new_days = IntegerField(_l("New for (days)"), validators=[InputRequired(), NumberRange(min=1, max=3650)])
    silent_days = IntegerField(_l("Silent after (days idle)"), validators=[InputRequired(), NumberRange(min=1, max=3650)])
    at_risk_days = IntegerField(_l("At risk after (days idle)"), validators=[InputRequired(), NumberRange(min=1, max=3650)])
    churned_days = IntegerField(_l("Churned after (days idle)"), validators=[InputRequired(), NumberRange(min=1, max=3650)])
