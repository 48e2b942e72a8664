"""The dashboard: what is in the system and how sending goes."""
from __future__ import annotations

from flask import Blueprint
from peewee import fn

from campaigner.audience.models import Contact
from campaigner.campaigns.models import Campaign
from campaigner.content.models import ContentItem
from campaigner.deliveries.models import Delivery
from campaigner.permissions import requires
from campaigner.settings_store import get_value
from campaigner.web import render_page

bp = Blueprint("dashboard", __name__)


def dashboard_counts() -> dict:
    by_status = dict(Delivery.select(Delivery.status, fn.COUNT(Delivery.id)).group_by(Delivery.status).tuples())
    return {
        "contacts": Contact.select().count(),
        "content": ContentItem.select().count(),
        "approved": ContentItem.select().where(ContentItem.status == "approved").count(),
        "campaigns": Campaign.select().count(),
        "running": Campaign.select().where(Campaign.status == "running").count(),
        "deliveries": by_status,
        "heartbeat": get_value("worker_heartbeat"),
    }


@bp.route("/")
@requires("dashboard.view")
def index():
    return render_page("dashboard/index.html", counts=dashboard_counts())
