"""What analytics keeps of its own: cost per message by channel, daily RFM snapshots, KPI goals."""
from __future__ import annotations

import peewee

from campaigner.accounts.models import User
from campaigner.db import BaseModel, utcnow

# metric -> how progress is measured (see analytics.services.kpi_value)
KPI_METRICS = ("active_rate", "interaction_rate", "conversions_growth", "conversions", "revenue", "unique_clicks",
               # the seeds' numbers, computed in campaigner.reports.kpis
               "net_growth", "retention_rate", "repurchase_rate", "coupon_redemption")


class ChannelCost(BaseModel):
    """What one message on a channel costs (SMS fee, platform fee…), for cost per click and per conversion."""

    channel = peewee.CharField(primary_key=True)
    cost_per_message = peewee.DecimalField(max_digits=12, decimal_places=4, default=0)
    currency = peewee.CharField(default="CNY")
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "channel_costs"


class RfmSnapshot(BaseModel):
    """How many contacts carried an RFM class (or the super-user tag, a fan tier, a lifecycle stage) on one day."""

    day = peewee.DateField()
    segment = peewee.CharField()  # "A".."H", "super-user", "fan:iron"…, "lifecycle:new"…
    size = peewee.IntegerField(default=0)
    taken_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "rfm_snapshots"
        indexes = ((("day", "segment"), True),)


class KpiGoal(BaseModel):
    """A target for one metric over a period: "monthly active rate 60%", "conversions +30%"."""

    name = peewee.CharField()
    metric = peewee.CharField()  # one of KPI_METRICS
    target = peewee.DecimalField(max_digits=14, decimal_places=4)  # rates and growth as percent
    period_start = peewee.DateField()  # local dates, both included
    period_end = peewee.DateField()
    created_by = peewee.ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = peewee.DateTimeField(default=utcnow)
    # The period's PDCA review: what was planned, what happened, what changes next period.
    plan_note = peewee.TextField(default="")
    outcome_note = peewee.TextField(default="")
    next_note = peewee.TextField(default="")

    class Meta:
        table_name = "kpi_goals"

    def __str__(self) -> str:
        return self.name


MODELS = [ChannelCost, RfmSnapshot, KpiGoal]
