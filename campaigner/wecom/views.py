"""The WeCom pages: staff, customer groups, and the full sync with its progress."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user

from campaigner.analytics.charts import line_chart
from campaigner.permissions import requires
from campaigner.web import render_page
from campaigner.wecom import reports, sync
from campaigner.wecom.accounts import wecom_accounts
from campaigner.wecom.models import ChatGroup, Staff, SyncJob
from campaigner.wecom.services import HEALTHY_GROUP_SIZE, group_health
from campaigner.wecom.tasks import run_sync

bp = Blueprint("wecom", __name__, url_prefix="/wecom")

@bp.context_processor
def _common():
    return {"healthy": HEALTHY_GROUP_SIZE, "group_health": group_health}


@bp.route("/")
@requires("wecom.read")
def staff_list():
    """Every staff account: customers, groups, adds and losses in the last 30 days."""
    return render_page("wecom/staff.html", rows=reports.staff_rows(), accounts=sorted(wecom_accounts()))


@bp.route("/staff/<int:staff_id>")
@requires("contacts.read_pii")  # lists the staff member's customers
def staff_detail(staff_id: int):
    """One staff account: its customers (current and lost) and the groups it owns."""
    staff = Staff.get_or_none(Staff.id == staff_id) or abort(404)
    [row] = [r for r in reports.staff_rows(staff.account) if r.staff.id == staff.id]
    return render_page("wecom/staff_detail.html", staff=staff, row=row, owners=reports.staff_customers(staff),
                       groups=[g for g in reports.groups(staff.account) if g.owner_id == staff.id])


@bp.route("/groups")
@requires("wecom.read")
def group_list():
    """Customer groups with their size, flagged outside the healthy range."""
    return render_page("wecom/groups.html", groups=reports.groups(include_dismissed=request.args.get("all") == "1"))


@bp.route("/groups/<int:group_id>")
@requires("contacts.read_pii")  # lists the group's members
def group_detail(group_id: int):
    """One group: members now, who left, joins and leaves per day."""
    group = ChatGroup.get_or_none(ChatGroup.id == group_id) or abort(404)
    flow = reports.group_flow(group)
    chart = line_chart([d["day"].isoformat() for d in flow],
                       [(_("Joined"), [d["joined"] for d in flow]), (pgettext("group members", "Left"), [d["left"] for d in flow])],
                       _("Joins and leaves per day (UTC)"))
    return render_page("wecom/group_detail.html", group=group, members=reports.group_members(group),
                       former=reports.group_members(group, current=False), flow=flow, chart=chart)


@bp.route("/sync")
@requires("wecom.read")
def sync_page():
    """The full syncs: start one per account, watch its progress."""
    return render_page("wecom/sync.html", block="jobs", jobs=reports.recent_syncs(), accounts=sorted(wecom_accounts()))


@bp.route("/sync", methods=["POST"])
@requires("wecom.operate")
def start_sync():
    """Queue a full sync of an account (or show the one already running)."""
    account = request.form.get("account", "")
    if account not in wecom_accounts():
        abort(400)
    job = sync.start_sync(account, user=current_user)
    if job.status == "queued":
        run_sync(job.id)
    flash(_("The sync of %(account)s is queued; this page shows its progress.", account=account), "success")
    return redirect(url_for("wecom.sync_page"))


@bp.route("/sync/<int:job_id>/resume", methods=["POST"])
@requires("wecom.operate")
def resume(job_id: int):
    """Run a failed sync again from where it stopped."""
    job = SyncJob.get_or_none(SyncJob.id == job_id) or abort(404)
    if sync.resume_sync(job, user=current_user):
        run_sync(job.id)
        flash(_("The sync continues from where it stopped."), "success")
    else:
        flash(_("Only a failed sync can be resumed."), "warning")
    return redirect(url_for("wecom.sync_page"))
