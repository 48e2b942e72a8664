"""Fixtures for the coupon tests: a batch of codes, and a campaign whose content asks for one."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigner.db import database, utcnow
from tests.fixtures_engine import make_content, new_campaign

COUPON_BODY = "Hi {{ name }}, your code: {{ coupon | SOLD-OUT }}"


@pytest.fixture
def coupon_batch(app):
    """``coupon_batch(codes=100, **fields)`` -> a batch of `codes` generated codes, open from an hour ago."""
    from campaigner.offers import services

    def make(codes: int = 100, **fields):
        fields.setdefault("name", "新客红包")
        fields.setdefault("kind", "amount")
        fields.setdefault("value", "10")
        fields.setdefault("starts_at", utcnow() - dt.timedelta(hours=1))
        with database.connection_context():
            batch = services.create_batch(**fields)
            if codes:
                services.generate_codes(batch, codes)
            return batch

    return make


def coupon_campaign(batch, channels=("rec",), **fields):
    """A campaign handing out `batch` through ``{{ coupon }}``, scheduled to start now."""
    from campaigner.campaigns.models import Campaign
    from campaigner.offers import services

    content = make_content(body=fields.pop("body", COUPON_BODY))
    campaign = new_campaign(channels=channels, content=content, schedule=False, **fields)
    with database.connection_context():
        services.attach_to_campaign(Campaign.get_by_id(campaign.id), batch)
        from campaigner.campaigns.services import schedule_campaign

        schedule_campaign(Campaign.get_by_id(campaign.id))
    return campaign
