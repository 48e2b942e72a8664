"""The content library pages: list and search, editor with live per-channel previews, history, media."""
from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from campaigner.audit import record_audit
from campaigner.content import media as media_store
from campaigner.content import personal_fields, previews, search
from campaigner.content.forms import (KIND_LABELS, STATUS_LABELS, SUBJECT_PREFIX, VARIANT_PREFIX, ContentForm,
                                      FieldsForm, MediaForm, content_form)
from campaigner.content.models import KINDS, STATUSES, ContentItem, ContentVersion, Media
from campaigner.content.rendering import CONTACT_FIELDS, markdown_to_html, markdown_to_text
from campaigner.content.services import (TRANSITIONS, ContentError, ContentValidationError, change_status,
                                         changed_fields, delete_content, diff_versions, restore_version,
                                         save_content)
from campaigner.permissions import can, requires
from campaigner.web import is_htmx, public, render_page

bp = Blueprint("content", __name__, url_prefix="/content")



@bp.context_processor
def _labels():
    return {"kind_labels": KIND_LABELS, "status_labels": STATUS_LABELS, "transitions": TRANSITIONS,
            "can_write": can(current_user, "content.write"),
            "markdown_to_html": markdown_to_html, "markdown_to_text": markdown_to_text}


def _channels() -> dict:
    return current_app.extensions["campaigner"].plugins.channels()


def _preview_channels() -> dict:
    return previews.preview_channels(current_app.extensions["campaigner"].plugins)


def _editor_channels(item: ContentItem | None) -> dict[str, str]:
    """Channel name -> label for the variant fields: every registered channel and any the item has a variant for."""
    names = {name: str(channel.label or name) for name, channel in sorted(_channels().items())}
    for name in sorted((item.variants or {}) if item else {}):
        names.setdefault(name, name)
    return names


def _subject_channels(item: ContentItem | None) -> dict[str, str]:
    """Channel name -> label for the channels' own subject lines: those whose messages have a subject."""
    names = {name: str(channel.label or name) for name, channel in sorted(_channels().items())
             if getattr(channel.limits, "subject", False)}
    for name in sorted((item.subjects or {}) if item else {}):
        names.setdefault(name, name)
    return names


def _form(item: ContentItem | None, **kwargs) -> ContentForm:
    return content_form(_editor_channels(item), _subject_channels(item), **kwargs)


def _item_or_404(item_id: int) -> ContentItem:
    return ContentItem.get_or_none(ContentItem.id == item_id) or abort(404)


def _instance() -> str:
    return current_app.config["CAMPAIGNER"]["INSTANCE_PATH"]


# ---------------------------------------------------------------- the library


@bp.route("/")
@requires("content.read")
def index():
    filters = search.Filters(
        q=request.args.get("q", "").strip(),
        kind=request.args.get("kind", "") if request.args.get("kind") in KINDS else "",
        tag=request.args.get("tag", "").strip(),
        status=request.args.get("status", "") if request.args.get("status") in STATUSES else "",
        channel=request.args.get("channel", "").strip(),
    )
    page = search.search(filters, request.args.get("page", 1, type=int) or 1)
    return render_page("content/index.html", block="results", filters=filters, page=page,
                       tags=search.all_tags(), channels=sorted(_channels()), kinds=KINDS, statuses=STATUSES)


@bp.route("/<int:item_id>")
@requires("content.read")
def detail(item_id: int):
    item = _item_or_404(item_id)
    return render_page("content/detail.html", item=item,
                       previews=previews.previews(_preview_channels(), item.title, item.body, item.variants,
                                                  subject=item.subject, subjects=item.subjects),
                       media=list(item.media.order_by(Media.uploaded_at.desc())))


# ---------------------------------------------------------------- writing


def _editor(form: ContentForm, item: ContentItem | None, status: int = 200, conflict: str | None = None,
            block: str | None = None):
    title, body, variants = form.title.data or "", form.body.data or "", form.variants()
    subjects = {"subject": form.subject.data or "", "subjects": form.subjects()}
    return render_page(
        "content/editor.html", block=block, form=form, item=item, conflict=conflict,
        previews=previews.previews(_preview_channels(), title, body, variants, **subjects),
        problems=previews.field_problems(title, body, variants, **subjects),
        known_fields=personal_fields.known_fields(),
        media=_media_for(item), media_form=MediaForm(formdata=None, content_id=item.id if item else ""),
    ), status


def _media_for(item: ContentItem | None) -> list[Media]:
    query = Media.select().order_by(Media.uploaded_at.desc())
    if item is not None:
        return list(query.where((Media.content == item.id) | Media.content.is_null()).limit(30))
    return list(query.where(Media.content.is_null()).limit(30))


def _apply_errors(form: ContentForm, error: ContentValidationError) -> None:
    for name, problem in error.errors.items():
        where, _dot, channel = name.partition(".")
        target = form._fields.get({"variants": VARIANT_PREFIX + channel, "subjects": SUBJECT_PREFIX + channel}.get(
            where, name) if channel else name)
        message = problem.translated(_)
        if target is None:
            form.form_errors.append(message)
        else:
            target.errors = [*target.errors, message] if isinstance(target.errors, list) else [message]


def _save(form: ContentForm, item: ContentItem | None):
    try:
        expected = int(form.version.data) if item is not None and (form.version.data or "").isdigit() else None
        result = save_content(item, form.content_data(), current_user._get_current_object(),
                              expected_version=expected)
    except ContentValidationError as exc:
        _apply_errors(form, exc)
        return _editor(form, item, 400)
    except ContentError as exc:
        return _editor(form, item, 409, conflict=exc.translated(_))
    if result.changed:
        record_audit(current_user, "created" if item is None else "changed", result.item,
                     summary=f"{result.item.title} (v{result.item.version})")
        flash(_("Saved as version %(version)s.", version=result.item.version), "success")
    else:
        flash(_("Nothing changed, so no new version was saved."), "info")
    return redirect(url_for(".detail", item_id=result.item.id))


@bp.route("/new", methods=["GET", "POST"])
@requires("content.write")
def new():
    form = _form(None)
    if request.method == "GET" and request.args.get("kind") in KINDS:
        form.kind.data = request.args["kind"]
    if form.validate_on_submit():
        return _save(form, None)
    return _editor(form, None, 400 if request.method == "POST" else 200)


@bp.route("/<int:item_id>/edit", methods=["GET", "POST"])
@requires("content.write")
def edit(item_id: int):
    item = _item_or_404(item_id)
    form = _form(item, obj=None if request.method == "POST" else item)
    if request.method == "GET":
        form.tags.data = ", ".join(item.tags or [])
        form.version.data = str(item.version)
        for name, text in (item.variants or {}).items():
            form[VARIANT_PREFIX + name].data = text
        for name, text in (item.subjects or {}).items():
            form[SUBJECT_PREFIX + name].data = text
    if form.validate_on_submit():
        return _save(form, item)
    return _editor(form, item, 400 if request.method == "POST" else 200)


@bp.route("/preview", methods=["POST"])
@requires("content.read")
def preview():
    """The previews for what is in the editor now (nothing is saved); without htmx, the whole editor."""
    item = ContentItem.get_or_none(ContentItem.id == request.form.get("item_id", type=int)) \
        if request.form.get("item_id", "").isdigit() else None
    form = _form(item)
    form.validate()  # fills in the errors of a half-written form; previews render anyway
    return _editor(form, item, block="preview")


@bp.route("/<int:item_id>/status", methods=["POST"])
@requires("content.write")
def set_status(item_id: int):
    item = _item_or_404(item_id)
    status = request.form.get("status", "")
    before = item.status
    try:
        change_status(item, status, current_user._get_current_object())
    except ContentError as exc:
        flash(exc.translated(_), "error")
    else:
        record_audit(current_user, "changed_status", item, summary=f"{item.title}: {before} → {item.status}")
        flash(_("%(title)s is now %(status)s.", title=item.title, status=STATUS_LABELS[item.status]), "success")
    return redirect(url_for(".detail", item_id=item.id))


@bp.route("/<int:item_id>/delete", methods=["POST"])
@requires("content.write")
def delete(item_id: int):
    item = _item_or_404(item_id)
    try:
        delete_content(item)
    except ContentError as exc:
        flash(exc.translated(_), "error")
        return redirect(url_for(".detail", item_id=item.id))
    record_audit(current_user, "deleted", object_type="contentitem", object_id=item_id, summary=item.title)
    flash(_("%(title)s was deleted.", title=item.title), "success")
    return redirect(url_for(".index"))


# ---------------------------------------------------------------- history


@bp.route("/<int:item_id>/versions")
@requires("content.read")
def versions(item_id: int):
    item = _item_or_404(item_id)
    rows = list(item.versions.order_by(ContentVersion.number.desc()))
    history = [(row, changed_fields(rows[i + 1] if i + 1 < len(rows) else None, row)) for i, row in enumerate(rows)]
    return render_page("content/versions.html", item=item, history=history)


@bp.route("/<int:item_id>/versions/<int:number>")
@requires("content.read")
def version(item_id: int, number: int):
    item = _item_or_404(item_id)
    shown = ContentVersion.get_or_none(ContentVersion.content == item.id, ContentVersion.number == number) or abort(404)
    against_number = request.args.get("against", number - 1, type=int)
    against = ContentVersion.get_or_none(ContentVersion.content == item.id, ContentVersion.number == against_number)
    numbers = [n for (n,) in item.versions.select(ContentVersion.number).order_by(ContentVersion.number).tuples()]
    return render_page("content/version.html", item=item, shown=shown, against=against, numbers=numbers,
                       diffs=diff_versions(against, shown))


@bp.route("/<int:item_id>/versions/<int:number>/restore", methods=["POST"])
@requires("content.write")
def restore(item_id: int, number: int):
    item = _item_or_404(item_id)
    try:
        result = restore_version(item, number, current_user._get_current_object())
    except ContentError as exc:
        flash(exc.translated(_), "error")
        return redirect(url_for(".versions", item_id=item.id))
    if result.changed:
        record_audit(current_user, "restored", item, summary=f"{item.title}: version {number} → v{result.item.version}")
        flash(_("Version %(number)s restored as version %(version)s.", number=number,
                version=result.item.version), "success")
    else:
        flash(_("Version %(number)s is what the item says already.", number=number), "info")
    return redirect(url_for(".detail", item_id=item.id))


# ---------------------------------------------------------------- media


@bp.route("/media", methods=["GET", "POST"])
@requires("content.read", POST="content.write")
def media():
    """Uploaded images; POST (editors) uploads one and attaches it to an item when `content_id` is given."""
    form = MediaForm()
    item = ContentItem.get_or_none(ContentItem.id == int(form.content_id.data)) \
        if (form.content_id.data or "").isdigit() else None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            upload = form.file.data
            try:
                row = media_store.store_upload(_instance(), upload.read(), upload.filename or "", content=item,
                                               user=current_user._get_current_object())
            except ContentError as exc:
                form.file.errors = [exc.translated(_)]
                status = 400
            else:
                record_audit(current_user, "uploaded", row, summary=row.original_name or row.filename)
                if not is_htmx():
                    flash(_("Image uploaded."), "success")
                    return redirect(url_for(".edit", item_id=item.id) if item else url_for(".media"))
                form = MediaForm(formdata=None, content_id=item.id if item else "")
        else:
            status = 400
    if is_htmx() and request.method == "POST":
        return render_page("content/editor.html", block="media_panel", item=item, media=_media_for(item),
                           media_form=form), status
    rows = list(Media.select().order_by(Media.uploaded_at.desc()).limit(200))
    return render_page("content/media.html", media=rows, media_form=form, item=item), status


@bp.url_defaults
def _media_token(endpoint: str, values: dict) -> None:
    # Every address of an image (pages, the API, the Markdown editors paste) is its public one.
    if endpoint == "content.media_file" and "filename" in values and "token" not in values:
        values["token"] = media_store.media_token(current_app.config["CAMPAIGNER"]["SECRET_KEY"],
                                                  values["filename"])


@bp.route("/media/<token>/<filename>")
@public
def media_file(token: str, filename: str):
    """An uploaded image for anyone with its address (an email's reader); a wrong token is a 404."""
    if not media_store.media_token_matches(current_app.config["CAMPAIGNER"]["SECRET_KEY"], filename, token):
        abort(404)
    stored = media_store.stored_media(_instance(), filename)
    if stored is None:
        abort(404)
    row, path = stored
    response = send_file(path, mimetype=row.mime, conditional=True, max_age=31536000)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The file name is the hash of the bytes: what an address shows never changes.
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


# ---------------------------------------------------------------- personalisation fields


@bp.route("/fields", methods=["GET", "POST"])
@requires("content.read", POST="content.write")
def fields():
    """Which personalisation fields content may use; editors declare contact attribute fields here."""
    form = FieldsForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                saved = personal_fields.declare_fields(re.split(r"[\s,，、]+", form.fields.data or ""))
            except ValueError as exc:
                form.fields.errors = [_("%(name)s is not a field name: use letters, digits and _.", name=str(exc))]
                status = 400
            else:
                record_audit(current_user, "changed", object_type="content_fields", summary=", ".join(saved))
                flash(_("Personalisation fields saved."), "success")
                return redirect(url_for(".fields"))
    else:
        form.fields.data = "\n".join(personal_fields.declared_fields())
    return render_page("content/fields.html", form=form, contact_fields=CONTACT_FIELDS,
                       declared=personal_fields.declared_fields(),
                       seen=personal_fields.attribute_fields_seen()), status
