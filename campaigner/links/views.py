"""The short-links pages at /links: manual links (create, change the target, expiry, stats) and options."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from campaigner.analytics.charts import line_chart
from campaigner.analytics.export import csv_filename, to_csv
from campaigner.analytics.timeseries import days_between
from campaigner.audit import record_audit
from campaigner.db import utcnow
from campaigner.links.forms import CampaignExpiryForm, LinkForm, LinkOptionsForm
from campaigner.links.models import ShortLink
from campaigner.links.options import link_options, save_link_options
from campaigner.links.redirect import click_recorder
from campaigner.links.services import (LinkError, click_counts, clicks_by_day, create_manual_link, manual_links,
                                       recent_clicks, set_campaign_link_expiry, update_link)
from campaigner.links.shortener import short_url
from campaigner.permissions import can, requires
from campaigner.web import render_page

bp = Blueprint("links", __name__, url_prefix="/links")

PER_PAGE = 50


def _tz() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def to_local(value: dt.datetime | None) -> dt.datetime | None:
    """A naive UTC time as naive local time (for form fields)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(_tz())).replace(tzinfo=None)


def from_local(value: dt.datetime | None) -> dt.datetime | None:
    """A naive local time (from a form field) as naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=ZoneInfo(_tz())).astimezone(dt.timezone.utc).replace(tzinfo=None)


def _index_context(form=None, options_form=None) -> dict:
    search = request.args.get("q", "").strip()
    page = max(1, request.args.get("page", 1, type=int))
    links, total = manual_links(search, page, PER_PAGE)
    if form is None:
        form = LinkForm(formdata=None)
        days = int(link_options()["default_expiry_days"])
        form.expires_at.data = to_local(utcnow() + dt.timedelta(days=days)).replace(second=0, microsecond=0) if days else None
    if options_form is None:
        options_form = LinkOptionsForm(formdata=None, data=link_options())
    return {"links": links, "counts": click_counts([link.id for link in links]), "total": total, "page": page,
            "pages": max(1, -(-total // PER_PAGE)), "search": search, "form": form, "options_form": options_form,
            "short_url": short_url, "now": utcnow(), "can_edit": can(current_user, "links.write"),
            "can_configure": can(current_user, "links.configure")}


@bp.route("/")
@requires("links.read")
def index():
    return render_page("links/index.html", block="links_table", **_index_context())


@bp.route("/", methods=["POST"])
@requires("links.write")
def create():
    form = LinkForm()
    if form.validate_on_submit():
        try:
            link = create_manual_link(form.target.data, label=form.label.data, expires_at=from_local(form.expires_at.data),
                                      user=current_user._get_current_object())
        except LinkError as exc:
            form.target.errors.append(_link_error(exc))
        else:
            flash(_("Short link created: %(url)s", url=short_url(link.code)), "success")
            return redirect(url_for(".detail", link_id=link.id))
    return render_page("links/index.html", **_index_context(form=form)), 400


def _link_error(exc: LinkError) -> str:
    messages = {
        "the target must be a full http:// or https:// address": _("The target must be a full http:// or https:// address."),
        "the target is itself a short link": _("The target is itself a short link."),
        "the target is longer than 4,000 characters": _("The target is longer than 4,000 characters."),
    }
    return messages.get(str(exc), str(exc))


def _link_or_404(link_id: int) -> ShortLink:
    link = ShortLink.get_or_none(ShortLink.id == link_id)
    if link is None:
        abort(404)
    return link


def _detail_context(link: ShortLink, form=None) -> dict:
    if form is None:
        form = LinkForm(formdata=None, obj=link)
        form.expires_at.data = to_local(link.expires_at)
    today = to_local(utcnow()).date()
    days = days_between(today - dt.timedelta(days=29), today)
    by_day = clicks_by_day([link.id], utcnow() - dt.timedelta(days=31), _tz())
    clicks = [by_day.get(d, {}).get("count", 0) for d in days]
    unique = [by_day.get(d, {}).get("unique", 0) for d in days]
    chart = line_chart([d.strftime("%m-%d") for d in days], [(_("Clicks"), clicks), (_("Unique visitors"), unique)],
                       _("Clicks per day, last 30 days"))
    return {"link": link, "form": form, "counts": click_counts([link.id])[link.id], "short": short_url(link.code),
            "chart": chart, "recent": recent_clicks(link), "expired": link.is_expired(), "to_local": to_local,
            "can_edit": can(current_user, "links.write") and link.kind == "manual"}


@bp.route("/<int:link_id>")
@requires("links.read")
def detail(link_id: int):
    click_recorder().flush()  # this process's latest clicks, so what the page says is current
    return render_page("links/detail.html", **_detail_context(_link_or_404(link_id)))


@bp.route("/<int:link_id>", methods=["POST"])
@requires("links.write")
def edit(link_id: int):
    link = _link_or_404(link_id)
    if link.kind != "manual":
        abort(403)  # a campaign's links follow its content; change the content instead
    form = LinkForm()
    if form.validate_on_submit():
        try:
            update_link(link, user=current_user._get_current_object(), target=form.target.data,
                        label=form.label.data, expires_at=from_local(form.expires_at.data))
        except LinkError as exc:
            form.target.errors.append(_link_error(exc))
        else:
            flash(_("Saved: the link goes to the new target from the next click on."), "success")
            return redirect(url_for(".detail", link_id=link.id))
    return render_page("links/detail.html", **_detail_context(link, form)), 400


@bp.route("/options", methods=["POST"])
@requires("links.configure")
def options():
    form = LinkOptionsForm()
    if form.validate_on_submit():
        window_changed = form.attribution_days.data != link_options()["attribution_days"]
        save_link_options(default_expiry_days=form.default_expiry_days.data, utm_enabled=form.utm_enabled.data,
                          utm_source=(form.utm_source.data or "").strip() or "campaigner",
                          interest_tags=form.interest_tags.data, attribution_days=form.attribution_days.data)
        record_audit(current_user, "changed", object_type="link_options", summary="short-link options")
        flash(_("Short-link options saved."), "success")
        if window_changed:
            from campaigner.links.tasks import reattribute_all_conversions

            reattribute_all_conversions()
            flash(_("Conversions are being attributed again with the new window."), "info")
        return redirect(url_for(".index"))
    return render_page("links/index.html", **_index_context(options_form=form)), 400


def _csv(name: str, header: list[str], rows) -> Response:
    return Response(to_csv(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/export.csv")
@requires("links.clicks")
def export():
    links, _total = manual_links(request.args.get("q", "").strip(), 1, 100_000)
    counts = click_counts([link.id for link in links])
    rows = ([link.code, short_url(link.code), link.label, link.target, link.expires_at, link.created_at,
             counts[link.id]["clicks"], counts[link.id]["unique"], counts[link.id]["bots"]] for link in links)
    return _csv("short-links.csv", ["code", "short_url", "label", "target", "expires_at_utc", "created_at_utc",
                                    "clicks", "unique_visitors", "bot_clicks"], rows)


@bp.route("/<int:link_id>/clicks.csv")
@requires("links.clicks")
def clicks_csv(link_id: int):
    link = _link_or_404(link_id)
    by_day = clicks_by_day([link.id], dt.datetime(2000, 1, 1), _tz())
    rows = ([day.isoformat(), v["count"], v["unique"]] for day, v in sorted(by_day.items()))
    return _csv(csv_filename("link", link.code, "clicks"), ["day", "clicks", "unique_visitors"], rows)


@bp.route("/campaigns/<int:campaign_id>/expiry", methods=["POST"])
@requires("links.write")
def campaign_expiry(campaign_id: int):
    """Set how long a campaign's short links live (the form is on the campaign's analytics page)."""
    from campaigner.campaigns.models import Campaign

    if not Campaign.select().where(Campaign.id == campaign_id).exists():
        abort(404)
    form = CampaignExpiryForm()
    if form.validate_on_submit():
        redated = set_campaign_link_expiry(campaign_id, form.days.data, redate_issued=form.redate_issued.data,
                                           user=current_user._get_current_object())
        if form.redate_issued.data:
            flash(_("Link expiry saved; %(num)s links already sent were changed.", num=redated), "success")
        else:
            flash(_("Link expiry saved for the links this campaign sends from now on."), "success")
    else:
        for error in form.days.errors:
            flash(f"{form.days.label.text}: {error}", "error")
    return redirect(url_for("analytics.campaign", campaign_id=campaign_id))
