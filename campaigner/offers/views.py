"""Offer pages at /offers: coupon batches with what they came to, and each campaign's coupon panel."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from campaigner.analytics.services import campaign_family_ids
from campaigner.campaigns.models import Campaign
from campaigner.campaigns.services import local_to_utc, utc_to_local
from campaigner.db import database
from campaigner.offers import services
from campaigner.offers.coupons import OfferError, batch_of_campaign
from campaigner.offers.forms import KIND_LABELS, BatchForm, CampaignOfferForm, CodesForm
from campaigner.offers.models import CampaignOffer, CouponBatch
from campaigner.offers.providers import coupon_providers
from campaigner.permissions import can, requires
from campaigner.web import render_page

bp = Blueprint("offers", __name__, url_prefix="/offers")

def _tz() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def _can_manage() -> bool:
    return can(current_user, "offers.write")


@bp.context_processor
def _context():
    return {"kind_labels": KIND_LABELS, "can_manage": _can_manage(), "tz": _tz(),
            "local": lambda value: utc_to_local(value, _tz()).strftime("%Y-%m-%d %H:%M") if value else "—"}


def _batch_form() -> BatchForm:
    form = BatchForm()
    providers = coupon_providers(current_app.extensions["campaigner"].plugins)
    form.provider.choices = [("", _("Campaigner (generated or imported codes)"))] + [
        (name, p.label or name) for name, p in sorted(providers.items())]
    return form


@bp.route("/")
@requires("offers.read")
def index():
    rows = [(b, services.coupon_figures(batch_id=b.id)) for b in services.batches()]
    return render_page("offers/index.html", rows=rows, form=_batch_form())


@bp.route("/", methods=["POST"])
@requires("offers.write")
def create():
    form = _batch_form()
    if not form.validate():
        rows = [(b, services.coupon_figures(batch_id=b.id)) for b in services.batches()]
        return render_page("offers/index.html", rows=rows, form=form), 422
    tz = _tz()
    try:
        with database.atomic():
            batch = services.create_batch(
                name=form.name.data, kind=form.kind.data, value=form.value.data,
                per_contact_limit=form.per_contact_limit.data,
                starts_at=local_to_utc(form.starts_at.data, tz) if form.starts_at.data else None,
                ends_at=local_to_utc(form.ends_at.data, tz) if form.ends_at.data else None,
                provider=form.provider.data, user=current_user)
            _fill(batch, form)
    except OfferError as exc:
        _field_error(form, exc)
        rows = [(b, services.coupon_figures(batch_id=b.id)) for b in services.batches()]
        return render_page("offers/index.html", rows=rows, form=form), exc.status
    flash(_("Batch %(name)s made with %(n)d codes.", name=batch.name, n=batch.stock), "success")
    return redirect(url_for("offers.detail", batch_id=batch.id))


def _fill(batch: CouponBatch, form) -> None:
    if (form.codes.data or "").strip():
        services.import_codes(batch, form.codes.data, user=current_user)
    if form.count.data:
        services.generate_codes(batch, form.count.data, form.prefix.data or "", user=current_user)


def _field_error(form, exc: OfferError) -> None:
    target = getattr(form, exc.field or "", None)
    if target is not None and hasattr(target, "errors"):
        target.errors = list(target.errors) + [str(exc)]
    else:
        form.form_errors.append(str(exc))


@bp.route("/<int:batch_id>")
@requires("offers.read")
def detail(batch_id: int):
    batch = CouponBatch.get_or_none(CouponBatch.id == batch_id) or abort(404)
    return render_page("offers/detail.html", batch=batch, figures=services.coupon_figures(batch_id=batch.id),
                       form=CodesForm(), campaigns=_campaigns_of(batch))


def _campaigns_of(batch: CouponBatch) -> list[Campaign]:
    return list(Campaign.select().join(CampaignOffer, on=(CampaignOffer.campaign == Campaign.id))
                .where(CampaignOffer.batch == batch.id).order_by(Campaign.id.desc()))


@bp.route("/<int:batch_id>/codes", methods=["POST"])
@requires("offers.write")
def add_codes(batch_id: int):
    batch = CouponBatch.get_or_none(CouponBatch.id == batch_id) or abort(404)
    form = CodesForm()
    status = 422
    if form.validate():
        if not form.count.data and not (form.codes.data or "").strip():
            form.form_errors.append(_("Give a number of codes to generate, or codes to import."))
        else:
            try:
                with database.atomic():
                    _fill(batch, form)
                flash(_("Codes added."), "success")
                return redirect(url_for("offers.detail", batch_id=batch.id))
            except OfferError as exc:
                _field_error(form, exc)
                status = exc.status
    batch = CouponBatch.get_by_id(batch.id)
    return render_page("offers/detail.html", batch=batch, figures=services.coupon_figures(batch_id=batch.id),
                       form=form, campaigns=_campaigns_of(batch)), status


# ---------------------------------------------------------------- a campaign's coupons


@bp.app_template_global()
def campaign_coupon_panel(campaign: Campaign) -> Markup:
    """The coupon card of a campaign's page: its batch and what the codes came to (one call in the template)."""
    return Markup(render_template("offers/_campaign_panel.html", **_panel_context(campaign)))


def _panel_context(campaign: Campaign, form: CampaignOfferForm | None = None) -> dict:
    batch = batch_of_campaign(campaign)
    form = form or CampaignOfferForm(batch=batch.id if batch else 0)
    form.batch.choices = [(0, _("No coupon"))] + [(b.id, b.name) for b in services.open_batches()]
    if batch and batch.id not in {c[0] for c in form.batch.choices}:
        form.batch.choices.append((batch.id, batch.name))
    return {"campaign": campaign, "batch": batch, "offer_form": form,
            "figures": services.coupon_figures(campaign_family_ids(campaign.id)), "can_manage": _can_manage()}


@bp.route("/campaigns/<int:campaign_id>", methods=["POST"])
@requires("offers.write")
def attach(campaign_id: int):
    campaign = Campaign.get_or_none(Campaign.id == campaign_id) or abort(404)
    form = CampaignOfferForm()
    form.batch.choices = [(0, "")] + [(b.id, b.name) for b in services.open_batches()]
    if not form.validate():
        abort(422)
    batch = CouponBatch.get_or_none(CouponBatch.id == form.batch.data) if form.batch.data else None
    services.attach_to_campaign(campaign, batch, user=current_user)
    flash(_("Coupon batch saved."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
