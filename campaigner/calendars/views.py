"""Calendar pages: calendars, weekly templates, week and month views, entries, the .ics feed.

Every signed-in user may look; editors (and admins) plan and publish. Entry
actions answer an htmx request with the entry panel and a ``calendar-changed``
event, on which the week grid reloads itself; without JavaScript they redirect.
"""
from __future__ import annotations

import datetime as dt
import functools
import html

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import format_date, gettext, lazy_gettext as _l
from flask_login import current_user
from peewee import fn
from markupsafe import Markup
from wtforms import SelectChoice

from campaigner.audience.models import Segment
from campaigner.audit import record_audit
from campaigner.calendars import publishing, services
from campaigner.calendars.conflicts import find_conflicts, planning_calendars
from campaigner.calendars.feed import build_feed, feed_token_matches
from campaigner.calendars.forms import (
    WEEKDAY_NAMES, ActionForm, ApplyForm, CalendarForm, ContentForm, DetailsForm, EntryForm, MoveForm,
    SlotForm, SwapForm,
)
from campaigner.calendars.grids import month_grid, week_grid
from campaigner.calendars.models import Calendar, CalendarEntry, WeeklySlot
from campaigner.calendars.services import CalendarError, CalendarData, SlotData
from campaigner.content.models import ContentItem
from campaigner.db import utcnow
from campaigner.permissions import can, requires
from campaigner.runtime import current_runtime
from campaigner.web import is_htmx, public, render_page

bp = Blueprint("calendars", __name__, url_prefix="/calendars")

CONFLICTS_LISTED = 30  # the week's conflict list shows this many; the grid marks every one

STATUS_LABELS = {
    "draft": _l("draft"), "scheduled": _l("scheduled"), "sending": _l("sending"), "paused": _l("paused"),
    "sent": _l("sent"), "partly_failed": _l("partly failed"), "failed": _l("failed"),
}
KIND_LABELS = {"moments": _l("Moments (朋友圈)"), "community": _l("Community (社群)")}


def error_text(exc: CalendarError) -> str:
    """A domain error in the reader's language."""
    return gettext(exc.message, **exc.params)


def conflict_text(conflict) -> str:
    return gettext(conflict.message, **conflict.values)


@bp.context_processor
def _helpers():
    # Labels are made into plain strings once per request: a week view shows thousands of them.
    return {"conflict_text": conflict_text, "weekday_names": WEEKDAY_NAMES, "kind_labels": KIND_LABELS,
            "status_labels": {key: str(label) for key, label in STATUS_LABELS.items()},
            "no_content": gettext("no content yet"), "timedelta": dt.timedelta,
            "can_edit": can(current_user, "calendars.write")}


# ---------------------------------------------------------------- helpers


def _calendar(calendar_id: int) -> Calendar:
    calendar = Calendar.get_or_none(Calendar.id == calendar_id)
    if calendar is None:
        abort(404)
    return calendar


def _entry(entry_id: int) -> CalendarEntry:
    entry = CalendarEntry.get_or_none(CalendarEntry.id == entry_id)
    if entry is None:
        abort(404)
    return entry


def _day_arg(name: str = "week") -> dt.date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2999 else None  # grids reach a week or a month either side


def _display_zone() -> str:
    return current_app.config["CAMPAIGNER"]["TIMEZONE"]


def _channel_choices(current: str | None = None) -> list[SelectChoice]:
    channels = current_runtime().plugins.channels()
    choices = [SelectChoice(name, f"{getattr(ch, 'label', '') or name}") for name, ch in sorted(channels.items())]
    if current and current not in channels:
        choices.append(SelectChoice(current))
    return choices


def _segment_choices() -> list[SelectChoice]:
    segments = Segment.select(Segment.id, Segment.name).order_by(Segment.name)
    return [SelectChoice(0, "—"), *[SelectChoice(s.id, s.name) for s in segments]]


def _content_choices(kind: str = "", current: ContentItem | None = None) -> list[SelectChoice]:
    """Content an entry or slot may use: not archived (drafts too, so a plan can name them; approval needs approved)."""
    query = (ContentItem.select(ContentItem.id, ContentItem.title, ContentItem.status, ContentItem.kind)
             .where(ContentItem.status != "archived"))
    if kind:
        query = query.where(ContentItem.kind == kind)
    items = list(query.order_by(ContentItem.status, ContentItem.title).limit(500))
    if current and current.id not in {i.id for i in items}:
        items.insert(0, current)
    return [SelectChoice(0, "—"), *[SelectChoice(i.id, f"{i.title} · {i.kind} · {i.status}") for i in items]]


def _changed(entry: CalendarEntry, message: str, warning: str | None = None):
    """After an entry action: the panel (+ a week reload) for htmx, else back to the entry page."""
    if is_htmx():
        response = _panel(entry, message=message, warning=warning)
        response.headers["HX-Trigger"] = "calendar-changed"
        return response
    flash(message, "success")
    if warning:
        flash(warning, "warning")
    return redirect(url_for(".entry", entry_id=entry.id))


def _reaches_nobody(calendar: Calendar) -> str | None:
    """A warning when the calendar's audience has no contact reachable on its channel now."""
    if services.reachable_count(calendar) != 0:
        return None
    return gettext("It will reach nobody: no contact in this calendar's audience is reachable on %(channel)s now.",
                   channel=calendar.channel)


def _refused(entry: CalendarEntry, exc: CalendarError | str, forms: dict | None = None):
    message = error_text(exc) if isinstance(exc, CalendarError) else exc
    if is_htmx():
        return _panel(entry, error=message, **(forms or {}))
    flash(message, "error")
    return redirect(url_for(".entry", entry_id=entry.id))


def _when(local: dt.datetime) -> str:
    """A wall-clock time with its weekday in the reader's language: 周四 2027-03-25 12:00."""
    return f"{format_date(local.date(), 'EEE')} {local:%Y-%m-%d %H:%M}"


def _first_error(form) -> str:
    for name, errors in form.errors.items():
        label = getattr(getattr(form, name, None), "label", None)
        return f"{label.text}: {errors[0]}" if label else str(errors[0])
    return gettext("The form is not valid.")


# ---------------------------------------------------------------- calendars


@bp.route("/")
@requires("calendars.read")
def index():
    calendars = list(Calendar.select().order_by(Calendar.name))
    upcoming = {cid: services.utc_to_local(_as_datetime(at), tz) for cid, at, tz in (
        CalendarEntry.select(CalendarEntry.calendar, fn.MIN(CalendarEntry.send_at), Calendar.timezone)
        .join(Calendar).where(CalendarEntry.send_at >= utcnow())
        .group_by(CalendarEntry.calendar, Calendar.timezone).tuples())}
    slot_counts = dict(WeeklySlot.select(WeeklySlot.calendar, fn.COUNT(WeeklySlot.id))
                       .group_by(WeeklySlot.calendar).tuples())
    return render_page("calendars/index.html", calendars=calendars, upcoming=upcoming, slot_counts=slot_counts)


def _as_datetime(value) -> dt.datetime:
    # MIN() over a DateTimeField comes back as text on SQLite
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _calendar_form(calendar: Calendar | None = None) -> CalendarForm:
    # The calendar fills the form only for display; a submitted form is read from what was sent.
    form = CalendarForm(obj=calendar if request.method == "GET" else None)
    form.channel.choices = _channel_choices(calendar.channel if calendar else None)
    form.segment.choices = _segment_choices()
    if request.method == "GET" and calendar is not None:
        form.groups.data = "\n".join(calendar.groups or [])
        form.segment.data = calendar.segment_id or 0
    return form


def _save_calendar(form: CalendarForm, calendar: Calendar | None):
    data = CalendarData(name=form.name.data, kind=form.kind.data, channel=form.channel.data or "",
                        audience=form.audience.data or "", segment_id=form.segment.data or None,
                        groups=form.group_list(), timezone=form.timezone.data,
                        min_gap_minutes=form.min_gap_minutes.data)
    errors = services.validate_calendar(data)
    for name, error in errors.items():
        getattr(form, name).errors = [*getattr(form, name).errors, error_text(error)]
    if errors:
        return None
    creating = calendar is None
    calendar = services.save_calendar(data, calendar, user=current_user._get_current_object())
    record_audit(current_user, "created" if creating else "changed", calendar, summary=calendar.name)
    return calendar


@bp.route("/new", methods=["GET", "POST"])
@requires("calendars.write")
def new():
    form = _calendar_form()
    if form.validate_on_submit():
        calendar = _save_calendar(form, None)
        if calendar:
            flash(gettext("Calendar created. Now give it a weekly template."), "success")
            return redirect(url_for(".template", calendar_id=calendar.id))
    status = 400 if form.is_submitted() else 200
    return render_page("calendars/calendar_form.html", form=form, calendar=None), status


@bp.route("/<int:calendar_id>/edit", methods=["GET", "POST"])
@requires("calendars.write")
def edit(calendar_id: int):
    calendar = _calendar(calendar_id)
    form = _calendar_form(calendar)
    if form.validate_on_submit():
        if _save_calendar(form, calendar):
            flash(gettext("Calendar saved."), "success")
            return redirect(url_for(".week", calendar_id=calendar.id))
    status = 400 if form.is_submitted() else 200
    return render_page("calendars/calendar_form.html", form=form, calendar=calendar,
                       action_form=ActionForm(), audience=services.effective_audience(calendar),
                       reachable=services.reachable_count(calendar)), status


@bp.route("/<int:calendar_id>/delete", methods=["POST"])
@requires("calendars.write")
def delete(calendar_id: int):
    calendar = _calendar(calendar_id)
    if CalendarEntry.select().where(CalendarEntry.calendar == calendar, CalendarEntry.status == "scheduled").exists():
        flash(gettext("Unschedule this calendar's scheduled entries before deleting it."), "error")
        return redirect(url_for(".edit", calendar_id=calendar.id))
    record_audit(current_user, "deleted", calendar, summary=calendar.name)
    calendar.delete_instance(recursive=False)
    flash(gettext("Calendar deleted."), "success")
    return redirect(url_for(".index"))


@bp.route("/<int:calendar_id>/feed/rotate", methods=["POST"])
@requires("calendars.write")
def rotate_feed(calendar_id: int):
    calendar = _calendar(calendar_id)
    if ActionForm().validate_on_submit():
        services.rotate_feed_token(calendar)
        record_audit(current_user, "rotated_feed_token", calendar, summary=calendar.name)
        flash(gettext("A new feed address was made; the old one no longer works."), "success")
    return redirect(url_for(".edit", calendar_id=calendar.id))


@bp.route("/<int:calendar_id>/feed/<token>.ics")
@public
def feed(calendar_id: int, token: str):
    calendar = Calendar.get_or_none(Calendar.id == calendar_id)
    if calendar is None or not feed_token_matches(calendar, token):
        abort(404)
    body = build_feed(calendar, current_app.config["CAMPAIGNER"]["BASE_URL"])
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'inline; filename="calendar-{calendar.id}.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# ---------------------------------------------------------------- weekly template


def _slot_form(formdata=True) -> SlotForm:
    form = SlotForm() if formdata else SlotForm(formdata=None)
    form.content.choices = _content_choices()
    return form


def _template_page(calendar: Calendar, slot_form=None, apply_form=None, status=200, applied=None):
    apply_form = apply_form or ApplyForm(formdata=None)
    if apply_form.start.data is None:
        apply_form.start.data = services.week_start(services.today_in(calendar.timezone)) + dt.timedelta(days=7)
    return render_page("calendars/template.html", calendar=calendar, slots=services.template_slots(calendar),
                       slot_form=slot_form or _slot_form(formdata=False), apply_form=apply_form,
                       action_form=ActionForm(), applied=applied), status


@bp.route("/<int:calendar_id>/template")
@requires("calendars.read")
def template(calendar_id: int):
    return _template_page(_calendar(calendar_id))


@bp.route("/<int:calendar_id>/slots", methods=["POST"])
@requires("calendars.write")
def add_slot(calendar_id: int):
    calendar = _calendar(calendar_id)
    form = _slot_form()
    if form.validate_on_submit():
        try:
            slot = services.save_slot(calendar, SlotData(
                weekday=form.weekday.data, time=form.time.data, theme=form.theme.data or "",
                content_kind=form.content_kind.data or "", content_id=form.content.data or None,
                rotation_tag=form.rotation_tag.data))
        except CalendarError as exc:
            form.rotation_tag.errors = [*form.rotation_tag.errors, error_text(exc)]
        else:
            record_audit(current_user, "added_slot", calendar, summary=f"{slot.weekday} {slot.time} {slot.theme}")
            flash(gettext("Slot added."), "success")
            return redirect(url_for(".template", calendar_id=calendar.id))
    return _template_page(calendar, slot_form=form, status=400)


@bp.route("/<int:calendar_id>/slots/<int:slot_id>/delete", methods=["POST"])
@requires("calendars.write")
def delete_slot(calendar_id: int, slot_id: int):
    calendar = _calendar(calendar_id)
    slot = WeeklySlot.get_or_none(WeeklySlot.id == slot_id, WeeklySlot.calendar == calendar)
    if slot is None:
        abort(404)
    if ActionForm().validate_on_submit():
        slot.delete_instance()
        record_audit(current_user, "removed_slot", calendar, summary=f"{slot.weekday} {slot.time} {slot.theme}")
        flash(gettext("Slot removed; entries made from it stay."), "success")
    return redirect(url_for(".template", calendar_id=calendar.id))


@bp.route("/<int:calendar_id>/apply", methods=["POST"])
@requires("calendars.write")
def apply(calendar_id: int):
    calendar = _calendar(calendar_id)
    form = ApplyForm()
    if not form.validate_on_submit():
        return _template_page(calendar, apply_form=form, status=400)
    try:
        applied = services.apply_weekly_template(calendar, form.start.data, form.weeks.data,
                                                 user=current_user._get_current_object())
    except CalendarError as exc:
        form.start.errors = [*form.start.errors, error_text(exc)]
        return _template_page(calendar, apply_form=form, status=400)
    record_audit(current_user, "applied_template", calendar,
                 summary=f"{form.start.data} +{form.weeks.data}w: {applied.created} created")
    flash(gettext("%(created)s entries created, %(existing)s already there.",
                  created=applied.created, existing=applied.existing), "success")
    return redirect(url_for(".week", calendar_id=calendar.id, week=services.week_start(form.start.data).isoformat()))


# ---------------------------------------------------------------- week and month views


# Themes, titles and calendar names repeat across a week: escape each once. html.escape rather than
# markupsafe's, which makes a Markup object per string.
_escape = functools.lru_cache(maxsize=8192)(html.escape)


def week_cell(entries, entry_base: str, show_calendar: bool, labels: dict, no_content: str, day: str = "") -> Markup:
    """The entries of one grid cell as HTML.

    Written here rather than in the template because a week can show
    thousands of entries and this is the hot loop of the page: one f-string
    per entry, escaping only the text editors typed, renders several times
    faster than the same markup as Jinja expressions. `day` starts each entry's name (hidden on
    screen, where the column says it) so a screen reader hears day and time together.
    """
    escape = _escape
    parts = []
    labels = {key: escape(str(label)) for key, label in labels.items()}
    no_content = escape(str(no_content))
    day = f'<span class="visually-hidden">{escape(day)} </span>' if day else ""
    for e in entries:
        status = e.status
        warn = " has-conflict" if e.conflicts else ""
        name = f'<span class="cal-name">{escape(e.calendar_name)}</span> ' if show_calendar else ""
        content = escape(e.content_title) if e.content_title else f"<em>{no_content}</em>"
        parts.append(
            f'<a class="cal-entry st-{status}{warn}" href="{entry_base}{e.id}" draggable="true" data-entry="{e.id}" '
            f'data-minute="{e.local.minute:02d}">{day}<span class="cal-time">{e.local.hour:02d}:{e.local.minute:02d}</span>'
            f'{" ⚠" if warn else ""} {name}{escape(e.theme)}<span class="cal-content">{content}</span>'
            f'<span class="badge st-{status}">{labels[status]}</span></a>')
    return Markup("".join(parts))


def _week_page(calendars: list[Calendar], tz: str, calendar: Calendar | None, everyone: dict | None = None):
    day = _day_arg() or services.today_in(tz)
    grid = week_grid(calendars, day, tz, everyone=everyone)
    base = url_for(".week", calendar_id=calendar.id) if calendar else url_for(".week_all")
    shown = {e.calendar_id for e in grid.entries}
    unreachable = [c for c in calendars if c.id in shown and services.reachable_count(c) == 0]
    return render_page("calendars/week.html", block="week", grid=grid, calendar=calendar, calendars=calendars,
                       unreachable=unreachable, week_url=f"{base}?week={grid.monday.isoformat()}", base_url=base,
                       entry_base=url_for(".index") + "entries/", conflicts_listed=CONFLICTS_LISTED,
                       today=services.today_in(tz), week_cell=week_cell,
                       day_labels=[f"{format_date(d, 'EEE')} {d:%m-%d}" for d in grid.days])


@bp.route("/week")
@requires("calendars.read")
def week_all():
    everyone = planning_calendars()
    return _week_page(sorted(everyone.values(), key=lambda c: c.name), _display_zone(), None, everyone)


@bp.route("/<int:calendar_id>/")
@requires("calendars.read")
def week(calendar_id: int):
    calendar = _calendar(calendar_id)
    return _week_page([calendar], calendar.timezone, calendar)


def _month_page(calendars: list[Calendar], tz: str, calendar: Calendar | None, everyone: dict | None = None):
    day = _day_arg("month") or services.today_in(tz)
    grid = month_grid(calendars, day, tz, everyone=everyone)
    base = url_for(".month", calendar_id=calendar.id) if calendar else url_for(".month_all")
    week_base = url_for(".week", calendar_id=calendar.id) if calendar else url_for(".week_all")
    return render_page("calendars/month.html", block="month", grid=grid, calendar=calendar, base_url=base,
                       week_base=week_base, today=services.today_in(tz))


@bp.route("/month")
@requires("calendars.read")
def month_all():
    everyone = planning_calendars()
    return _month_page(sorted(everyone.values(), key=lambda c: c.name), _display_zone(), None, everyone)


@bp.route("/<int:calendar_id>/month")
@requires("calendars.read")
def month(calendar_id: int):
    calendar = _calendar(calendar_id)
    return _month_page([calendar], calendar.timezone, calendar)


# ---------------------------------------------------------------- entries


def _entry_forms(entry: CalendarEntry) -> dict:
    local = services.utc_to_local(entry.send_at, entry.calendar.timezone)
    move = MoveForm(formdata=None, date=local.date(), time=local.time())
    content = ContentForm(formdata=None, content=entry.content_id or 0)
    content.content.choices = _content_choices(entry.content_kind, entry.content if entry.content_id else None)
    details = DetailsForm(formdata=None, obj=entry)
    swap = SwapForm(formdata=None)
    start, end = entry.send_at - dt.timedelta(days=14), entry.send_at + dt.timedelta(days=14)
    neighbours = (CalendarEntry.select().where(CalendarEntry.calendar == entry.calendar_id, CalendarEntry.id != entry.id,
                                               CalendarEntry.send_at.between(start, end))
                  .order_by(CalendarEntry.send_at).limit(100))
    tz = entry.calendar.timezone
    swap.other.choices = [SelectChoice(e.id, f"{_when(services.utc_to_local(e.send_at, tz))} · {e.theme}")
                          for e in neighbours]
    return {"move_form": move, "content_form": content, "details_form": details, "swap_form": swap}


def _panel(entry: CalendarEntry, message: str | None = None, error: str | None = None, warning: str | None = None,
           **forms):
    entry = CalendarEntry.get_by_id(entry.id)  # re-read: an action may have changed it
    calendar = entry.calendar
    local = services.utc_to_local(entry.send_at, calendar.timezone)
    all_forms = {**_entry_forms(entry), **forms}
    conflicts = [c for c in _entry_conflicts(entry)]
    status = publishing.entry_status(entry)
    report = publishing.entry_report(entry) if entry.campaign_id else None
    return render_page("calendars/entry.html", block="panel", entry=entry, calendar=calendar, local=local,
                       status=status, report=report, conflicts=conflicts, message=message, error=error,
                       warning=warning if warning is not None else _entry_reach_warning(entry),
                       action_form=ActionForm(), started=services.has_started(entry),
                       deliveries_url=_deliveries_url(entry), **all_forms)


def _entry_reach_warning(entry: CalendarEntry) -> str | None:
    """An entry still to send whose calendar reaches nobody says so on its panel."""
    if entry.status == "sent" or services.has_started(entry):
        return None
    return _reaches_nobody(entry.calendar)


def _entry_conflicts(entry: CalendarEntry):
    found = find_conflicts(entry.send_at, entry.send_at + dt.timedelta(seconds=1), [entry.calendar_id])
    return found.get(entry.id, [])


def _deliveries_url(entry: CalendarEntry) -> str | None:
    if not entry.campaign_id:
        return None
    return url_for("deliveries.index", campaign=entry.campaign_id)


@bp.route("/entries/<int:entry_id>")
@requires("calendars.read")
def entry(entry_id: int):
    return _panel(_entry(entry_id))


@bp.route("/<int:calendar_id>/entries/new", methods=["GET", "POST"])
@requires("calendars.write")
def new_entry(calendar_id: int):
    calendar = _calendar(calendar_id)
    form = EntryForm()
    form.content.choices = _content_choices()
    if request.method == "GET":
        day = _day_arg("date") or services.today_in(calendar.timezone) + dt.timedelta(days=1)
        form.date.data = day
        hour = request.args.get("hour", type=int)
        form.time.data = dt.time(hour if hour is not None and 0 <= hour <= 23 else 9, 0)
    if form.validate_on_submit():
        entry = services.create_entry(calendar, day=form.date.data, at=form.time.data, theme=form.theme.data or "",
                                      content=form.content.data or None, notes=form.notes.data or "",
                                      user=current_user._get_current_object())
        record_audit(current_user, "created", entry, summary=entry.theme)
        flash(gettext("Entry added."), "success")
        return redirect(url_for(".week", calendar_id=calendar.id,
                                week=services.week_start(form.date.data).isoformat()))
    status = 400 if form.is_submitted() else 200
    return render_page("calendars/entry_form.html", form=form, calendar=calendar), status


@bp.route("/entries/<int:entry_id>/details", methods=["POST"])
@requires("calendars.write")
def entry_details(entry_id: int):
    entry = _entry(entry_id)
    form = DetailsForm()
    if not form.validate_on_submit():
        return _refused(entry, _first_error(form), {"details_form": form})
    services.edit_entry(entry, theme=form.theme.data or "", notes=form.notes.data or "")
    record_audit(current_user, "changed", entry, summary=entry.theme)
    return _changed(entry, gettext("Entry saved."))


@bp.route("/entries/<int:entry_id>/content", methods=["POST"])
@requires("calendars.write")
def entry_content(entry_id: int):
    entry = _entry(entry_id)
    form = ContentForm()
    if not form.validate_on_submit():
        return _refused(entry, _first_error(form))
    try:
        services.assign_content(entry, form.content.data or None)
    except CalendarError as exc:
        return _refused(entry, exc)
    record_audit(current_user, "assigned_content", entry, summary=str(entry.content_id))
    return _changed(entry, gettext("Content assigned."))


@bp.route("/entries/<int:entry_id>/move", methods=["POST"])
@requires("calendars.write")
def entry_move(entry_id: int):
    entry = _entry(entry_id)
    form = MoveForm()
    if not form.validate_on_submit():
        return _refused(entry, _first_error(form))
    try:
        publishing.move_entry(entry, form.date.data, form.time.data, form.tz.data or None,
                              user=current_user._get_current_object())
    except CalendarError as exc:
        return _refused(entry, exc)
    local = services.utc_to_local(entry.send_at, entry.calendar.timezone)
    record_audit(current_user, "moved", entry, summary=f"{local:%Y-%m-%d %H:%M} {entry.calendar.timezone}")
    return _changed(entry, gettext("Moved to %(when)s.", when=_when(local)))


@bp.route("/entries/<int:entry_id>/swap", methods=["POST"])
@requires("calendars.write")
def entry_swap(entry_id: int):
    entry = _entry(entry_id)
    form = SwapForm()
    other = (CalendarEntry.get_or_none(CalendarEntry.id == form.other.data)
             if form.validate_on_submit() and 0 < (form.other.data or 0) <= services.MAX_ID else None)
    if other is None:
        return _refused(entry, gettext("Choose another entry to swap with."))
    try:
        publishing.swap_entries(entry, other, user=current_user._get_current_object())
    except CalendarError as exc:
        return _refused(entry, exc)
    record_audit(current_user, "swapped", entry, summary=f"with entry {other.id}")
    return _changed(entry, gettext("Times swapped."))


@bp.route("/entries/<int:entry_id>/approve", methods=["POST"])
@requires("calendars.write")
def entry_approve(entry_id: int):
    entry = _entry(entry_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        publishing.approve_entry(entry, user=current_user._get_current_object())
    except CalendarError as exc:
        return _refused(entry, exc)
    record_audit(current_user, "scheduled", entry, summary=f"campaign {entry.campaign_id}")
    warning = _reaches_nobody(entry.calendar)
    if warning:
        return _changed(entry, gettext("Approved: it is scheduled."), warning)
    return _changed(entry, gettext("Approved: it is scheduled and will send on time."))


@bp.route("/entries/<int:entry_id>/unschedule", methods=["POST"])
@requires("calendars.write")
def entry_unschedule(entry_id: int):
    entry = _entry(entry_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        publishing.unschedule_entry(entry, user=current_user._get_current_object())
    except CalendarError as exc:
        return _refused(entry, exc)
    record_audit(current_user, "unscheduled", entry)
    return _changed(entry, gettext("Unscheduled: the entry is a draft again."))


@bp.route("/entries/<int:entry_id>/delete", methods=["POST"])
@requires("calendars.write")
def entry_delete(entry_id: int):
    entry = _entry(entry_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    calendar_id, monday = entry.calendar_id, services.week_start(
        services.utc_to_local(entry.send_at, entry.calendar.timezone).date())
    try:
        services.delete_entry(entry)
    except CalendarError as exc:
        return _refused(entry, exc)
    record_audit(current_user, "deleted", object_type="calendarentry", object_id=entry_id)
    target = url_for(".week", calendar_id=calendar_id, week=monday.isoformat())
    if is_htmx():
        # The panel says so and the week reloads around it: the editor's place on the page is kept.
        response = render_page("calendars/entry.html", block="panel", deleted=True,
                               message=gettext("Entry deleted."), week_url=target)
        response.headers["HX-Trigger"] = "calendar-changed"
        return response
    flash(gettext("Entry deleted."), "success")
    return redirect(target)
