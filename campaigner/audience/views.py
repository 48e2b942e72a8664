"""The audience pages: contacts, tags, segments with a live count, CSV imports and RFM."""
from __future__ import annotations

import io
import json
import uuid
from pathlib import Path


from flask import Blueprint, Response, abort, current_app, flash, redirect, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from campaigner.audience import export as contacts_export
from campaigner.audience import importer, rfm, services
from campaigner.audience.expressions import BUILTIN_CONTACT_FIELDS, ExpressionError
from campaigner.audience.forms import (ContactForm, RunImportForm, SegmentForm, TagForm, TagGroupForm,
                                       ThresholdsForm, UploadForm)
from campaigner.audience.models import Contact, ImportJob, OptOut, Segment, Tag, TagGroup
from campaigner.audience.timeline import contact_timeline
from campaigner.audit import record_audit
from campaigner.db import database
from campaigner.permissions import can, requires
from campaigner.spreadsheet_csv import csv_writer
from campaigner.web import is_htmx, render_page

bp = Blueprint("audience", __name__, url_prefix="/audience")

PER_PAGE = 50


@bp.context_processor
def _context():
    user = current_user
    return {"can_manage": can(user, "audience.write"),
            "can_write_segments": can(user, "audience.write"),
            "rfm_names": rfm.CLASS_NAMES, "for_people": rfm.for_people}


def _channels() -> list[str]:
    plugins = current_app.extensions["campaigner"].plugins
    return sorted(set(plugins.channels()) | set(BUILTIN_CONTACT_FIELDS))


def _contact_or_404(contact_id: int) -> Contact:
    return Contact.get_or_none(Contact.id == contact_id) or abort(404)


# ---------------------------------------------------------------- contacts


@bp.route("/export.csv")
@requires("contacts.export")
def export():
    """Every contact with its tags as CSV, streamed (cells neutralised for spreadsheets)."""
    def generate():
        buffer = io.StringIO()
        buffer.write("\ufeff")  # a BOM, so spreadsheets read the Chinese as UTF-8
        writer = csv_writer(buffer)
        writer.writerow(contacts_export.CONTACT_COLUMNS)
        # A streamed response outlives the request's connection handling: hold our own.
        with database.connection_context():
            for n, row in enumerate(contacts_export.contact_rows(), 1):
                writer.writerow(row)
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    record_audit(current_user, "exported", object_type="contact", summary="contacts.csv")
    response = Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = "attachment; filename=contacts.csv"
    return response


@bp.route("/")
@requires("contacts.read_pii")
def index():
    """Contacts, newest first, searched by text and filtered by an audience expression."""
    q = request.args.get("q", "").strip()
    expression = request.args.get("expr", "").strip()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    error = None
    try:
        contacts, total = services.search_contacts(q, expression, page, PER_PAGE)
    except ExpressionError as exc:
        contacts, total, error = [], 0, exc
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    return render_page("audience/index.html", block="results", contacts=contacts, total=total, q=q,
                       expression=expression, page=page, pages=pages, error=error,
                       tags_of=_tags_of([c.id for c in contacts]))


def _tags_of(contact_ids: list[int]) -> dict[int, list[str]]:
    from campaigner.audience.models import ContactTag

    found: dict[int, list[str]] = {}
    if contact_ids:
        for contact_id, key in (ContactTag.select(ContactTag.contact, Tag.key).join(Tag)
                                .where(ContactTag.contact.in_(contact_ids)).order_by(Tag.key).tuples()):
            found.setdefault(contact_id, []).append(key)
    return found


def _contact_data(form: ContactForm) -> dict:
    data = {name: getattr(form, name).data or "" for name in
            ("name", "external_id", "phone", "email", "chat_id", "openid", "timezone")}
    text = (form.attributes.data or "").strip()
    if text:
        attributes = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise services.AudienceError(_("Write one attribute a line as name=value."), "attributes")
            attributes[key.strip()] = value.strip()
        data["attributes"] = attributes
    return data


def _form_error(form: ContactForm, exc: services.AudienceError) -> None:
    target = getattr(form, exc.field, None) if exc.field else None
    message = _translated_error(exc.message)
    if target is not None:
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)


def _translated_error(message: str) -> str:
    # Service errors are English sentences built with values; show them as they are,
    # prefixed by a translated lead so Chinese pages still read naturally.
    return _("Not saved: %(reason)s", reason=message)


@bp.route("/contacts/new", methods=["GET", "POST"])
@requires("audience.write")
def contact_new():
    """Create a contact by hand."""
    form = ContactForm()
    if form.validate_on_submit():
        try:
            data = _contact_data(form)
            tags = [t for t in importer.TAG_SEPARATORS.split(form.tags.data or "") if t.strip()]
            contact = services.create_contact(data, source="ui", tags=tags)
        except services.AudienceError as exc:
            _form_error(form, exc)
        else:
            record_audit(current_user, "created", contact, summary=str(contact))
            flash(_("Contact created."), "success")
            return redirect(url_for(".contact_detail", contact_id=contact.id))
    return render_page("audience/contact_form.html", form=form, contact=None), 400 if form.errors or form.form_errors else 200


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@requires("audience.write")
def contact_edit(contact_id: int):
    """Change a contact's fields and attributes."""
    contact = _contact_or_404(contact_id)
    form = ContactForm(obj=contact)
    if request.method == "GET":
        form.attributes.data = "\n".join(f"{k}={v}" for k, v in sorted((contact.attributes or {}).items()))
    if form.validate_on_submit():
        try:
            data = _contact_data(form)
            removed = [k for k in (contact.attributes or {}) if k not in data.get("attributes", {})]
            data.setdefault("attributes", {}).update({k: None for k in removed})
            services.update_contact(contact, data, source="ui")
        except services.AudienceError as exc:
            _form_error(form, exc)
        else:
            record_audit(current_user, "changed", contact, summary=str(contact))
            flash(_("Contact saved."), "success")
            return redirect(url_for(".contact_detail", contact_id=contact.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_page("audience/contact_form.html", form=form, contact=contact), status


@bp.route("/contacts/<int:contact_id>")
@requires("contacts.read_pii")
def contact_detail(contact_id: int):
    """A contact: details, tags, opt-outs and timeline."""
    contact = _contact_or_404(contact_id)
    return _detail(contact)


def _detail(contact: Contact, tag_error: str | None = None, status: int = 200, tag_message: str | None = None):
    opt_outs = list(OptOut.select().where(OptOut.contact == contact.id).order_by(OptOut.channel))
    return render_page("audience/contact.html", block="tags", contact=contact,
                       tags=services.contact_tag_keys(contact), opt_outs=opt_outs,
                       timeline=contact_timeline(contact, 200), tag_form=TagForm(formdata=None),
                       tag_error=tag_error, tag_message=tag_message, channels=_channels()), status


@bp.route("/contacts/<int:contact_id>/tags", methods=["POST"])
@requires("audience.write")
def contact_tag(contact_id: int):
    """Add tags to a contact (the tags block, for htmx)."""
    contact = _contact_or_404(contact_id)
    keys = [k for k in importer.TAG_SEPARATORS.split(request.form.get("key", "")) if k.strip()]
    if not keys:
        return _detail(contact, _("Write a tag, e.g. vip or 渠道:门店."), 400)
    try:
        added = services.add_tags(contact, keys, source="ui")
    except services.AudienceError as exc:
        return _detail(contact, _translated_error(exc.message), 400)
    if added:
        record_audit(current_user, "tagged", contact, summary=", ".join(added))
    return _detail(contact)


@bp.route("/contacts/<int:contact_id>/tags/remove", methods=["POST"])
@requires("audience.write")
def contact_untag(contact_id: int):
    """Remove a tag from a contact (the tags block, for htmx)."""
    contact = _contact_or_404(contact_id)
    removed = services.remove_tags(contact, [request.form.get("key", "")], source="ui")
    if removed:
        record_audit(current_user, "untagged", contact, summary=", ".join(removed))
    return _detail(contact, tag_message=_("Tag %(key)s removed.", key=", ".join(removed)) if removed else None)


@bp.route("/contacts/<int:contact_id>/opt-out", methods=["POST"])
@requires("audience.write")
def contact_opt_out(contact_id: int):
    """Opt a contact out of a channel, or back in."""
    contact = _contact_or_404(contact_id)
    channel = request.form.get("channel", "").strip()
    if channel not in _channels():
        abort(400)
    if request.form.get("action") == "opt_in":
        services.opt_in(contact, channel, source="ui")
        record_audit(current_user, "opted_in", contact, summary=channel)
        flash(_("%(name)s may be reached on %(channel)s again.", name=str(contact), channel=channel), "success")
    else:
        services.opt_out(contact, channel, source=f"ui:{current_user.email}")
        record_audit(current_user, "opted_out", contact, summary=channel)
        flash(_("%(name)s is opted out of %(channel)s.", name=str(contact), channel=channel), "success")
    return redirect(url_for(".contact_detail", contact_id=contact.id))


# ---------------------------------------------------------------- tags


@bp.route("/tags", methods=["GET", "POST"])
@requires("audience.read", POST="audience.write")
def tags():
    """Tag groups and their tags with sizes; create groups and tags."""
    group_form = TagGroupForm(prefix="group")
    tag_form = TagForm(prefix="tag")
    status = 200
    if request.method == "POST":
        if request.form.get("what") == "group" and group_form.validate_on_submit():
            name = group_form.name.data.strip()
            if ":" in name:
                group_form.name.errors.append(_("A group name can't contain a colon."))
                status = 400
            elif TagGroup.select().where(TagGroup.name == name).exists():
                group_form.name.errors.append(_("This group exists."))
                status = 400
            else:
                group = TagGroup.create(name=name, description=group_form.description.data or "")
                record_audit(current_user, "created", group, summary=name)
                flash(_("Group %(name)s created.", name=name), "success")
                return redirect(url_for(".tags"))
        elif request.form.get("what") == "tag" and tag_form.validate_on_submit():
            try:
                key = services.clean_tag_key(tag_form.key.data)
            except services.AudienceError:
                tag_form.key.errors.append(_("Write a tag as name or group:name."))
                status = 400
            else:
                if Tag.select().where(Tag.key == key).exists():
                    tag_form.key.errors.append(_("This tag exists."))
                    status = 400
                else:
                    tag = services.ensure_tags([key])[key]
                    record_audit(current_user, "created", tag, summary=key)
                    flash(_("Tag %(key)s created.", key=key), "success")
                    return redirect(url_for(".tags"))
        else:
            status = 400
    groups = list(TagGroup.select().order_by(TagGroup.name))
    all_tags = list(Tag.select().order_by(Tag.key))
    by_group: dict = {}
    for tag in all_tags:
        by_group.setdefault(tag.group_id, []).append(tag)
    sections = [(group.name, group.description, by_group.get(group.id, [])) for group in groups]
    if by_group.get(None):
        sections.append((_("Tags without a group"), "", by_group[None]))
    return render_page("audience/tags.html", sections=sections, group_form=group_form, tag_form=tag_form), status


@bp.route("/tags/<int:tag_id>/delete", methods=["POST"])
@requires("audience.write")
def tag_delete(tag_id: int):
    """Delete a tag and take it off every contact."""
    tag = Tag.get_or_none(Tag.id == tag_id) or abort(404)
    count = services.delete_tag(tag)
    record_audit(current_user, "deleted", object_type="tag", object_id=tag_id, summary=f"{tag.key} ({count})")
    flash(_("Tag %(key)s deleted; %(count)d contacts carried it.", key=tag.key, count=count), "success")
    return redirect(url_for(".tags"))


@bp.route("/tags/refresh", methods=["POST"])
@requires("audience.write")
def tags_refresh():
    """Recount every tag's size now."""
    services.refresh_tag_sizes()
    flash(_("Tag sizes recounted."), "success")
    return redirect(url_for(".tags"))


# ---------------------------------------------------------------- segments


@bp.route("/segments")
@requires("audience.read")
def segments():
    """Saved segments with how many contacts each selects now."""
    rows = [(segment, services.segment_count(segment)) for segment in Segment.select().order_by(Segment.name)]
    return render_page("audience/segments.html", rows=rows)


@bp.route("/preview")
@requires("contacts.read_pii")
def preview():
    """The live count and sample of the segment builder (htmx), or the page's preview on its own."""
    expression = request.args.get("expression", "")
    channel = request.args.get("channel", "") or None
    if channel and channel not in _channels():
        channel = None
    if not is_htmx():
        return redirect(url_for(".segment_edit", expression=expression, channel=channel or ""))
    result = services.preview_audience(expression, channel)
    return render_page("audience/segment_form.html", block="preview", preview=result, expression=expression)


def _segment_form(segment: Segment | None):
    form = SegmentForm(obj=segment)
    form.channel.choices = [SelectChoice("", _("Any channel (no reachability check)")),
                            *[SelectChoice(c) for c in _channels()]]
    if request.method == "GET" and segment is None:
        form.expression.data = request.args.get("expression", "")
        form.channel.data = request.args.get("channel", "")
    return form


@bp.route("/segments/new", methods=["GET", "POST"])
@bp.route("/segments/<int:segment_id>", methods=["GET", "POST"])
@requires("audience.read", POST="audience.write")
def segment_edit(segment_id: int | None = None):
    """The segment builder: a new segment, or change a saved one."""
    segment = (Segment.get_or_none(Segment.id == segment_id) or abort(404)) if segment_id else None
    form = _segment_form(segment)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                saved = services.save_segment(form.name.data, form.expression.data, form.channel.data,
                                              form.description.data, current_user, segment)
            except ExpressionError as exc:
                form.expression.errors.append(_("The expression has an error at position %(pos)d: %(message)s",
                                                pos=exc.position + 1, message=exc.message))
            except services.AudienceError as exc:
                form.name.errors.append(_("A segment with this name exists.") if "exists" in exc.message
                                        else _translated_error(exc.message))
            else:
                record_audit(current_user, "created" if segment is None else "changed", saved,
                             summary=f"{saved.name}: {saved.expression}")
                flash(_("Segment saved."), "success")
                return redirect(url_for(".segment_edit", segment_id=saved.id))
        status = 400
    expression = form.expression.data or ""
    result = services.preview_audience(expression, form.channel.data or None)
    return render_page("audience/segment_form.html", form=form, segment=segment, preview=result,
                       expression=expression), status


@bp.route("/segments/<int:segment_id>/delete", methods=["POST"])
@requires("audience.write")
def segment_delete(segment_id: int):
    """Delete a segment no campaign or calendar uses."""
    segment = Segment.get_or_none(Segment.id == segment_id) or abort(404)
    name = segment.name
    try:
        services.delete_segment(segment)
    except services.AudienceError as exc:
        flash(_("Segment %(name)s is still used (%(users)s); it was not deleted.", name=name,
                users=exc.message.removeprefix("still used by ")), "error")
        return redirect(url_for(".segment_edit", segment_id=segment_id))
    record_audit(current_user, "deleted", object_type="segment", object_id=segment_id, summary=name)
    flash(_("Segment %(name)s deleted.", name=name), "success")
    return redirect(url_for(".segments"))


# ---------------------------------------------------------------- imports


def _imports_dir() -> Path:
    path = Path(current_app.config["CAMPAIGNER"]["INSTANCE_PATH"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


@bp.route("/imports", methods=["GET", "POST"])
@requires("audience.write")
def imports():
    """Upload a CSV file of contacts or orders; recent imports."""
    form = UploadForm()
    status = 200
    if form.validate_on_submit():
        # Straight to disk, then read from there: the request never holds the whole file.
        path = _imports_dir() / f"{uuid.uuid4().hex}.csv"
        form.file.data.save(str(path))
        try:
            headers, _rows, _encoding, total = importer.preview(path, form.encoding.data)
        except importer.ImportFileError as exc:
            path.unlink(missing_ok=True)
            form.file.errors.append(_("This file can't be read: %(reason)s", reason=str(exc)))
            status = 400
        else:
            job = ImportJob.create(kind=form.kind.data, filename=Path(form.file.data.filename or "upload.csv").name,
                                   path=str(path), encoding=form.encoding.data, total_rows=total,
                                   mapping=importer.guess_mapping(headers, form.kind.data),
                                   created_by=current_user.id)
            return redirect(url_for(".import_detail", job_id=job.id))
    elif request.method == "POST":
        status = 400
    jobs = list(ImportJob.select().order_by(ImportJob.id.desc()).limit(20))
    return render_page("audience/imports.html", form=form, jobs=jobs), status


def _job_or_404(job_id: int) -> ImportJob:
    return ImportJob.get_or_none(ImportJob.id == job_id) or abort(404)


def _targets(kind: str, headers: list[str], mapping: dict) -> list[tuple[str, str]]:
    if kind == "orders":
        labels = {"contact_external_id": _("Contact: external id"), "contact_phone": _("Contact: phone"),
                  "contact_email": _("Contact: email"), "amount": _("Amount"), "occurred_at": _("Time"),
                  "order_id": _("Order id"), "source": _("Source")}
        return [("", _("(ignore)"))] + list(labels.items())
    labels = {"external_id": _("External id"), "name": _("Name"), "phone": _("Phone"), "email": _("Email"),
              "chat_id": _("Chat id"), "openid": _("Mini-program openid"), "timezone": _("Time zone"),
              "tags": _("Tags (separated by , ; | 、)")}
    choices = [("", _("(ignore)"))] + list(labels.items())
    for header in headers:
        choices.append((f"attr:{header}", _("Attribute “%(name)s”", name=header)))
        choices.append((f"tag_group:{header}", _("Tag in group “%(name)s”", name=header)))
    for channel in _channels():
        choices.append((f"optout:{channel}", _("Opted out of %(channel)s (1/yes/是)", channel=channel)))
    extra = [t for t in mapping.values() if t and t not in {c for c, _ in choices}]
    return choices + [(t, t) for t in extra]


@bp.route("/imports/<int:job_id>", methods=["GET"])
@requires("audience.write")
def import_detail(job_id: int):
    """Map an uploaded file's columns with a preview of its first rows, follow the run, or see the outcome.

    htmx polls the `job` block every second while the job is queued or running.
    """
    job = _job_or_404(job_id)
    return _import_page(job, RunImportForm(skip_bad_rows=job.skip_bad_rows, strict=job.strict))


def _import_page(job: ImportJob, form: RunImportForm, file_error: str | None = None, status: int = 200):
    headers, rows, encoding, total = [], [], "", 0
    if job.status in importer.RUNNABLE:
        try:
            headers, rows, encoding, total = importer.preview(Path(job.path), job.encoding)
        except (OSError, importer.ImportFileError) as exc:
            file_error = file_error or str(exc)
    failure = {importer.WORKER_LOST: _("the worker running it stopped before it finished")}.get(job.message, job.message)
    written = importer.written_so_far(job.id) if job.status == "running" else None
    response = render_page("audience/import.html", block="job", job=job, form=form, headers=headers, rows=rows,
                           encoding=encoding, total=total, targets=_targets(job.kind, headers, job.mapping or {}),
                           file_error=file_error, failure=failure, written=written,
                           error_summary=_issue_summary(job.errors or []),
                           warning_summary=_issue_summary(job.warnings or []))
    return response, status


ISSUES_SHOWN = 20  # rows of a report the page lists before it points to the CSV


def _issue_summary(issues: list) -> list[dict]:
    """Errors or warnings by reason, commonest first, each with its count and its first rows, in the reader's language."""
    summary = []
    for code, count, example in importer.summarise(issues):
        rows = [item["row"] for item in issues if (item.get("code") or item.get("reason", "")) == code][:5]
        summary.append({"code": code, "count": count, "example": importer.issue_text(example, _), "rows": rows,
                        "field": example.get("field", "")})
    return summary


@bp.route("/imports/<int:job_id>/run", methods=["POST"])
@requires("audience.write")
def import_run(job_id: int):
    """Queue an import with the chosen mapping (all or nothing, or skipping bad rows) for a worker."""
    from campaigner.audience.tasks import run_import

    job = _job_or_404(job_id)
    form = RunImportForm()
    taken = _("This import is running or has run already; upload the file again to repeat it.")
    if job.status not in importer.RUNNABLE:
        flash(taken, "warning")
        return redirect(url_for(".import_detail", job_id=job.id))
    if not form.validate_on_submit():
        return _import_page(job, form, status=400)
    try:
        headers = importer.read_headers(Path(job.path), job.encoding)
        # Shown again on the form when it is wrong; saved only with the job when it is queued.
        job.mapping = {header: request.form.get(f"map-{i}", "") for i, header in enumerate(headers)}
        importer.check_mapping(job.mapping, headers, job.kind)
    except (OSError, importer.ImportFileError) as exc:
        return _import_page(job, form, str(exc), 400)
    if not importer.queue_job(job, job.mapping, bool(form.skip_bad_rows.data), bool(form.strict.data)):  # another request was first
        flash(taken, "warning")
        return redirect(url_for(".import_detail", job_id=job.id))
    run_import(job.id)
    record_audit(current_user, "queued", job, summary=job.kind + (", skipping bad rows" if job.skip_bad_rows else ""))
    return redirect(url_for(".import_detail", job_id=job.id))


@bp.route("/imports/<int:job_id>/errors.csv")
@requires("audience.write")
def import_errors(job_id: int):
    """The per-row report of an import (errors, then what was noted about kept rows), as a CSV download in the reader's language."""
    job = _job_or_404(job_id)
    return Response(importer.errors_csv(job.errors or [], _, job.warnings or []), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=import-{job.id}-errors.csv"})


# ---------------------------------------------------------------- RFM


@bp.route("/rfm", methods=["GET", "POST"])
@requires("contacts.read_pii", POST="audience.write")
def rfm_page():
    """RFM classes' sizes and GMV shares, super users, thresholds and recompute."""
    configured = rfm.configured_thresholds()
    form = ThresholdsForm(data={k: v or "" for k, v in configured.items()})
    status = 200
    if request.method == "POST":
        if request.form.get("what") == "thresholds" and form.validate_on_submit():
            try:
                rfm.set_thresholds(form.recency_days.data, form.frequency.data, form.monetary.data)
            except (ValueError, ArithmeticError):
                form.form_errors.append(_("Thresholds are numbers of zero or more; leave one empty for the median."))
                status = 400
            else:
                record_audit(current_user, "changed", object_type="rfm", summary=json.dumps(
                    rfm.configured_thresholds()))
                rfm.recompute_rfm()
                flash(_("Thresholds saved and classes recomputed."), "success")
                return redirect(url_for(".rfm_page"))
        elif request.form.get("what") == "recompute":
            report = rfm.recompute_rfm()
            record_audit(current_user, "recomputed", object_type="rfm", summary=f"{report['contacts']} contacts")
            flash(_("RFM classes recomputed."), "success")
            return redirect(url_for(".rfm_page"))
        else:
            status = 400
    return render_page("audience/rfm.html", report=rfm.last_report(), form=form, configured=configured), status
