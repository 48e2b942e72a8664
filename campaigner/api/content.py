"""Content library endpoints: items, status, versions and restore, previews, media, personalisation fields.

Reading needs any valid token; writing needs the editor role (admin passes).
HTML in answers (``html``, ``variants_html``, previews) is sanitized like the pages.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import current_app, g, jsonify, request, url_for

from campaigner.api import (ApiError, bp, found, iso_utc, json_body, keyset_page, list_json, reject_unknown_fields)
from campaigner.content import media as media_store
from campaigner.content import library_files, personal_fields, previews, search
from campaigner.content.models import KINDS, STATUSES, ContentItem, ContentVersion, Media
from campaigner.content.rendering import markdown_to_html
from campaigner.content.services import (ContentError, ContentValidationError, change_status, delete_content,
                                         diff_versions, find_item, restore_version, save_content)
from campaigner.permissions import requires

MAX_PER_PAGE = 100


def item_json(item: ContentItem, full: bool = True) -> dict:
    """An item as the API shows it; `full` adds the body, the variants and their sanitized HTML."""
    data = {"id": item.id, "slug": item.slug, "title": item.title, "subject": item.subject or "",
            "subjects": dict(item.subjects or {}), "kind": item.kind, "status": item.status,
            "tags": list(item.tags or []), "channels_with_variant": sorted(item.variants or {}),
            "version": item.version, "sendable": item.is_sendable,
            "created_at": iso_utc(item.created_at), "updated_at": iso_utc(item.updated_at)}
    if full:
        data.update(body=item.body, variants=dict(item.variants or {}), html=markdown_to_html(item.body),
                    variants_html={k: markdown_to_html(v) for k, v in (item.variants or {}).items()})
    return data


def version_json(version: ContentVersion, full: bool = False) -> dict:
    data = {"number": version.number, "saved_at": iso_utc(version.saved_at), "note": version.note,
            "saved_by": version.saved_by.email if version.saved_by_id else None, "title": version.title}
    if full:
        data.update(kind=version.kind, subject=version.subject or "", subjects=dict(version.subjects or {}),
                    body=version.body, tags=list(version.tags or []),
                    variants=dict(version.variants or {}), html=markdown_to_html(version.body))
    return data


def _item(key) -> ContentItem:
    return found(find_item(key), "no content item with this id or slug")


def _invalid(exc: ContentValidationError):
    return ApiError("the content is not valid", 422, fields={k: str(v) for k, v in exc.errors.items()})


def _content_fields(data: dict) -> dict:
    allowed = {"title", "subject", "subjects", "slug", "kind", "tags", "status", "body", "variants"}
    reject_unknown_fields(data, allowed | {"version"})
    return {k: v for k, v in data.items() if k in allowed}


@bp.route("/content", methods=["GET"])
@requires("content.read")
def content_list():
    """Search and filter the library.
    ---
    get:
      summary: Search the content library (title and body, Chinese included) with filters
      parameters:
        - {name: q, in: query, schema: {type: string}, description: words that title or body contain}
        - {name: kind, in: query, schema: {type: string, enum: [moments, community, script, article, sms, welcome]}}
        - {name: tag, in: query, schema: {type: string}}
        - {name: status, in: query, schema: {type: string, enum: [draft, approved, archived]}}
        - {name: channel, in: query, schema: {type: string}, description: items with a variant for this channel}
        - cursor
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}
      responses:
        200:
          description: One page of items (without bodies), most recently changed first, with the total
          content:
            application/json:
              schema: Page
        400: BadRequest
    """
    args = request.args
    if args.get("kind") and args["kind"] not in KINDS:
        raise ApiError(f"unknown kind; one of {', '.join(KINDS)}")
    if args.get("status") and args["status"] not in STATUSES:
        raise ApiError(f"unknown status; one of {', '.join(STATUSES)}")
    filters = search.Filters(q=args.get("q", "").strip(), kind=args.get("kind", ""), tag=args.get("tag", ""),
                             status=args.get("status", ""), channel=args.get("channel", ""))
    query = search.query(filters)
    items, next_cursor = keyset_page(query, [ContentItem.updated_at, ContentItem.id], MAX_PER_PAGE, search.PER_PAGE)
    return list_json([item_json(i, full=False) for i in items], next_cursor, total=query.order_by().count())


@bp.route("/content", methods=["POST"])
@requires("content.write")
def content_create():
    """Create an item.
    ---
    post:
      summary: Create a content item (its first version)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [title]
              properties:
                title: {type: string}
                subject: {type: string, description: "subject line (email); empty: the title. Personalisable"}
                subjects: {type: object, additionalProperties: {type: string}, description: "a channel's own subject"}
                slug: {type: string}
                kind: {type: string, enum: [moments, community, script, article, sms, welcome]}
                tags: {type: array, items: {type: string}}
                status: {type: string, enum: [draft, approved, archived]}
                body: {type: string, description: "Markdown; personalise with {{ field }} or {{ field | default }}"}
                variants: {type: object, additionalProperties: {type: string}}
      responses:
        201: {description: "The item, with sanitized html"}
        400: BadRequest
        403: Forbidden
        422: Invalid
    """
    data = _content_fields(json_body())
    try:
        result = save_content(None, data, g.api_user)
    except ContentValidationError as exc:
        raise _invalid(exc) from None
    _audit("created", result.item)
    return jsonify(item_json(result.item)), 201


@bp.route("/content/<key>", methods=["GET"])
@requires("content.read")
def content_get(key):
    """One item.
    ---
    get:
      summary: A content item by id or slug, with its body, variants and their sanitized HTML
      parameters:
        - {name: key, in: path, required: true, schema: {type: string}, description: id or slug}
      responses:
        200: {description: The item}
        404: NotFound
    """
    return jsonify(item_json(_item(key)))


@bp.route("/content/<key>", methods=["PATCH"])
@requires("content.write")
def content_update(key):
    """Edit an item.
    ---
    patch:
      summary: Change some fields of an item; a change is kept as a new version
      description: >
        Pass `version` (the version you read) to be refused with 409 when someone
        saved the item since; fields left out keep their values.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                version: {type: integer}
                title: {type: string}
                subject: {type: string}
                subjects: {type: object, additionalProperties: {type: string}}
                slug: {type: string}
                kind: {type: string}
                tags: {type: array, items: {type: string}}
                body: {type: string}
                variants: {type: object, additionalProperties: {type: string}}
      responses:
        200: {description: The item; `changed` says whether a new version was written}
        400: BadRequest
        403: Forbidden
        404: NotFound
        409: {description: Someone saved the item since `version`}
        422: Invalid
    """
    item = _item(key)
    body = json_body()
    data = _content_fields(body)
    if "status" in data:
        raise ApiError("change the status with POST /content/<key>/status")
    expected = body.get("version")
    if expected is not None and not isinstance(expected, int):
        raise ApiError("version is a whole number")
    try:
        result = save_content(item, data, g.api_user, expected_version=expected)
    except ContentValidationError as exc:
        raise _invalid(exc) from None
    except ContentError as exc:
        raise ApiError(str(exc), 409) from None
    if result.changed:
        _audit("changed", result.item)
    return jsonify({**item_json(result.item), "changed": result.changed})


@bp.route("/content/<key>", methods=["DELETE"])
@requires("content.write")
def content_delete(key):
    """Delete an item.
    ---
    delete:
      summary: Delete an item and its versions (refused while a campaign uses it)
      responses:
        204: {description: Deleted}
        403: Forbidden
        404: NotFound
        409: {description: A campaign uses it; archive it instead}
    """
    item = _item(key)
    try:
        delete_content(item)
    except ContentError as exc:
        raise ApiError(str(exc), 409) from None
    _audit("deleted", item)
    return "", 204


@bp.route("/content/<key>/status", methods=["POST"])
@requires("content.write")
def content_status(key):
    """Approve, archive or return an item to draft.
    ---
    post:
      summary: Change an item's status (draft → approved → archived; only approved content is sent)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [status]
              properties:
                status: {type: string, enum: [draft, approved, archived]}
      responses:
        200: {description: The item}
        400: BadRequest
        403: Forbidden
        404: NotFound
        409: {description: This status cannot follow the current one}
    """
    item = _item(key)
    status = json_body().get("status")
    before = item.status
    try:
        change_status(item, str(status or ""), g.api_user)
    except ContentError as exc:
        raise ApiError(str(exc), 409 if status in STATUSES else 400) from None
    _audit("changed_status", item, f"{before} → {item.status}")
    return jsonify(item_json(item))


@bp.route("/content/<key>/versions", methods=["GET"])
@requires("content.read")
def content_versions(key):
    """An item's history.
    ---
    get:
      summary: Every saved version of an item, newest first (who, when, what)
      responses:
        200: {description: The versions}
        404: NotFound
    """
    item = _item(key)
    rows = item.versions.order_by(ContentVersion.number.desc())
    return jsonify({"item": item.id, "current": item.version, "versions": [version_json(v) for v in rows]})


def _version(item: ContentItem, number: int) -> ContentVersion:
    return found(ContentVersion.get_or_none(ContentVersion.content == item.id, ContentVersion.number == number),
                 f"no version {number}")


@bp.route("/content/<key>/versions/<int:number>", methods=["GET"])
@requires("content.read")
def content_version(key, number):
    """One version with its diff.
    ---
    get:
      summary: A saved version, and its diff against another one (default the one before)
      parameters:
        - {name: against, in: query, schema: {type: integer}}
      responses:
        200: {description: The version and `diff` (unified diff lines per field)}
        404: NotFound
    """
    item = _item(key)
    shown = _version(item, number)
    against_number = request.args.get("against", number - 1, type=int)
    against = ContentVersion.get_or_none(ContentVersion.content == item.id, ContentVersion.number == against_number)
    diff = {d.field: [{"add": "+", "del": "-", "ctx": " ", "hunk": ""}[kind] + line for kind, line in d.lines]
            for d in diff_versions(against, shown)}
    return jsonify({**version_json(shown, full=True), "against": against.number if against else None, "diff": diff})


@bp.route("/content/<key>/versions/<int:number>/restore", methods=["POST"])
@requires("content.write")
def content_restore(key, number):
    """Restore a version.
    ---
    post:
      summary: Make an old version current again (the restore is itself a new version)
      responses:
        200: {description: The item as restored}
        403: Forbidden
        404: NotFound
    """
    item = _item(key)
    _version(item, number)
    try:
        result = restore_version(item, number, g.api_user)
    except ContentValidationError as exc:
        raise _invalid(exc) from None
    except ContentError as exc:
        raise ApiError(str(exc), 409) from None
    if result.changed:
        _audit("restored", result.item, f"version {number} → v{result.item.version}")
    return jsonify({**item_json(result.item), "changed": result.changed})


def _previews_json(title, body, variants, subject: str = "", subjects: dict | None = None) -> dict:
    channels = previews.preview_channels(current_app.extensions["campaigner"].plugins)
    lines = {"subject": subject, "subjects": subjects or {}}
    return {"previews": [asdict(p) for p in previews.previews(channels, title, body, variants, **lines)],
            "unknown_fields": previews.field_problems(title, body, variants, **lines)}


@bp.route("/content/<key>/previews", methods=["GET"])
@requires("content.read")
def content_previews(key):
    """Per-channel previews of an item.
    ---
    get:
      summary: How each registered channel shows the item, with the channel's limit warnings
      responses:
        200: {description: "`previews`: channel, format, text, sanitized html, length, warnings"}
        404: NotFound
    """
    item = _item(key)
    return jsonify(_previews_json(item.title, item.body, item.variants, item.subject, item.subjects))


@bp.route("/content/preview", methods=["POST"])
@requires("content.read")
def content_preview():
    """Preview unsaved text.
    ---
    post:
      summary: Per-channel previews of text that is not saved (nothing is written)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                title: {type: string}
                subject: {type: string}
                subjects: {type: object, additionalProperties: {type: string}}
                body: {type: string}
                variants: {type: object, additionalProperties: {type: string}}
      responses:
        200: {description: The previews and any unknown personalisation fields}
        400: BadRequest
    """
    data = json_body()
    variants = data.get("variants") or {}
    if not isinstance(variants, dict) or not all(isinstance(v, str) for v in variants.values()):
        raise ApiError("variants map a channel name to its text")
    subjects = data.get("subjects") or {}
    if not isinstance(subjects, dict) or not all(isinstance(v, str) for v in subjects.values()):
        raise ApiError("subjects map a channel name to its subject line")
    return jsonify(_previews_json(str(data.get("title") or ""), str(data.get("body") or ""), variants,
                                  str(data.get("subject") or ""), subjects))


@bp.route("/content/import", methods=["POST"])
@requires("content.write")
def content_import():
    """Import Markdown files.
    ---
    post:
      summary: Import items from Markdown files with YAML front matter, by slug (what `campaigner content import` does)
      description: >
        Idempotent: a file that matches its item changes nothing. Each file is saved
        on its own; a bad file is reported by name in `errors` and the others still import.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [files]
              properties:
                files: {type: object, additionalProperties: {type: string}, description: "file name -> its text"}
      responses:
        200: {description: "`created`, `updated`, `unchanged` slugs and `errors` [file, reason]"}
        400: BadRequest
        403: Forbidden
    """
    files = json_body().get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise ApiError("files maps each file name to its text")
    if len(files) > 1000:
        raise ApiError("at most 1000 files at once")
    report = library_files.import_texts(files, g.api_user)
    if report.created or report.updated:
        _audit("imported", None, report.summary(), object_type="content")
    return jsonify({"created": report.created, "updated": report.updated, "unchanged": report.unchanged,
                    "errors": [{"file": name, "error": message} for name, message in report.errors]})


@bp.route("/content/export", methods=["GET"])
@requires("content.read")
def content_export():
    """Export Markdown files.
    ---
    get:
      summary: Every item (or those with `status`) as Markdown with front matter, the format import reads
      parameters:
        - {name: status, in: query, schema: {type: string, enum: [draft, approved, archived]}}
      responses:
        200: {description: "`files`: file name -> text"}
        400: BadRequest
    """
    items = ContentItem.select().order_by(ContentItem.slug)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise ApiError(f"unknown status; one of {', '.join(STATUSES)}")
        items = items.where(ContentItem.status == status)
    return jsonify({"files": {f"{item.slug}.md": library_files.item_file_text(item) for item in items}})


def media_json(row: Media) -> dict:
    url = url_for("content.media_file", filename=row.filename)
    return {"id": row.id, "filename": row.filename, "original_name": row.original_name, "mime": row.mime,
            "size": row.size, "width": row.width, "height": row.height, "content": row.content_id,
            "url": url, "markdown": media_store.markdown_for(row, url), "uploaded_at": iso_utc(row.uploaded_at)}


@bp.route("/content/media", methods=["GET"])
@requires("content.read")
def content_media_list():
    """Uploaded images.
    ---
    get:
      summary: Uploaded images, newest first (each with the Markdown that shows it)
      parameters:
        - {name: content, in: query, schema: {type: string}, description: only images of this item}
        - cursor
        - limit
      responses:
        200: {description: A page of images, content: {application/json: {schema: Page}}}
        404: NotFound
    """
    rows = Media.select()
    if request.args.get("content"):
        rows = rows.where(Media.content == _item(request.args["content"]).id)
    page, next_cursor = keyset_page(rows, [Media.uploaded_at, Media.id], 200)
    return list_json([media_json(r) for r in page], next_cursor)


@bp.route("/content/media", methods=["POST"])
@requires("content.write")
def content_media_upload():
    """Upload an image.
    ---
    post:
      summary: Upload an image (PNG, JPEG, GIF or WebP, at most 5 MB), checked by its bytes
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                file: {type: string, format: binary}
                content: {type: string, description: id or slug of the item it belongs to}
      responses:
        201: {description: The stored image}
        400: {description: "No file, or not an accepted image"}
        403: Forbidden
        404: NotFound
    """
    upload = request.files.get("file")
    if upload is None:
        raise ApiError("send the image as the multipart field 'file'")
    item = _item(request.form["content"]) if request.form.get("content") else None
    try:
        row = media_store.store_upload(current_app.config["CAMPAIGNER"]["INSTANCE_PATH"], upload.read(),
                                       upload.filename or "", content=item, user=g.api_user)
    except ContentError as exc:
        raise ApiError(str(exc)) from None
    _audit("uploaded", row, row.original_name or row.filename)
    return jsonify(media_json(row)), 201


@bp.route("/content/fields", methods=["GET"])
@requires("content.read")
def content_fields_get():
    """Personalisation fields.
    ---
    get:
      summary: The fields content may use (contact fields, declared attributes, attributes seen on contacts)
      responses:
        200: {description: The fields}
    """
    return jsonify({"contact": list(personal_fields.CONTACT_FIELDS), "context": list(personal_fields.CONTEXT_FIELDS),
                    "declared": personal_fields.declared_fields(), "seen": personal_fields.attribute_fields_seen()})


@bp.route("/content/fields", methods=["PUT"])
@requires("content.write")
def content_fields_put():
    """Declare attribute fields.
    ---
    put:
      summary: Replace the declared contact attribute fields that content may use
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [declared]
              properties:
                declared: {type: array, items: {type: string}}
      responses:
        200: {description: The fields}
        400: {description: A name that is not a field name}
        403: Forbidden
    """
    names = json_body().get("declared")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError("declared is a list of field names")
    try:
        personal_fields.declare_fields(names)
    except ValueError as exc:
        raise ApiError(f"{exc} is not a field name: use letters, digits and _") from None
    _audit("changed", None, ", ".join(personal_fields.declared_fields()), object_type="content_fields")
    return content_fields_get()


def _audit(action: str, obj, summary: str = "", **kwargs) -> None:
    from campaigner.audit import record_audit

    record_audit(g.api_user, action, obj, summary=summary or str(obj or ""), **kwargs)
