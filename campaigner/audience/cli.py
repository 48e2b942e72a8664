"""``campaigner audience``: import contacts and orders from CSV, recompute RFM, count an expression."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("audience")
def audience():
    """Contacts, tags, orders and RFM."""


@audience.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["contacts", "orders"]), default="contacts", show_default=True)
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
              help="Send a column to a field (phone, email, external_id, name, tags, tag_group:G, attr:K, "
                   "optout:CHANNEL; orders: contact_external_id, contact_phone, contact_email, amount, "
                   "occurred_at, order_id, source). Repeatable; unmapped columns are guessed from their names.")
@click.option("--ignore", "ignored", multiple=True, metavar="COLUMN", help="Leave a column out.")
@click.option("--encoding", type=click.Choice(["auto", "utf-8", "gbk"]), default="auto", show_default=True)
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows and report the bad ones "
                                                    "(default: a file with a bad row imports nothing).")
@click.option("--strict", is_flag=True, help="Refuse a row with any bad value (default: a bad phone or email is "
                                               "left out and the row kept when another identifier names the contact).")
@click.option("--match-on", default=None, metavar="ID,ID",
              help="Which identifiers find an existing contact, first first (default: the instance's "
                   "IMPORT_MATCH_ORDER, external_id,phone,email).")
@click.option("--errors", "errors_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the per-row error report (row, field, reason) to this CSV file.")
@with_appcontext
def import_command(file: Path, kind: str, mappings, ignored, encoding: str, skip_bad_rows: bool, strict: bool,
                   match_on: str | None, errors_out):
    """Import contacts (or orders) from a CSV file: UTF-8, UTF-8 with BOM or GBK."""
    from campaigner.audience import importer
    from campaigner.audience.models import ImportJob
    from campaigner.db import database, utcnow

    # The importer streams from the path (rows kept only as cleaned values); a pipe such as
    # /dev/stdin can be read only once, while the importer opens the file once per pass.
    source = file if file.is_file() else file.read_bytes()
    try:
        headers = importer.read_headers(source, encoding)
    except importer.ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    mapping = importer.guess_mapping(headers, kind)
    for item in mappings:
        column, sep, target = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: write COLUMN=FIELD", param_hint="--map")
        if column not in headers:
            raise click.BadParameter(f"no column named {column!r} (columns: {', '.join(headers)})", param_hint="--map")
        mapping[column] = target.strip()
    for column in ignored:
        mapping[column] = ""
    click.echo("Columns: " + ", ".join(f"{h} -> {mapping.get(h) or '(ignored)'}" for h in headers))
    run = importer.import_contacts if kind == "contacts" else importer.import_orders
    settings = current_app.config["CAMPAIGNER"]
    options = ({"timezone": settings.get("TIMEZONE", "UTC")} if kind == "orders" else
               {"strict": strict, "match_on": match_on or settings.get("IMPORT_MATCH_ORDER", "")})
    with database.connection_context():
        try:
            result = run(source, mapping, encoding=encoding, skip_bad_rows=skip_bad_rows, source=f"cli:{file.name}",
                         **options)
        except importer.ImportFileError as exc:
            raise click.ClickException(str(exc)) from None
        ImportJob.create(kind=kind, filename=file.name, encoding=result.encoding, mapping=mapping,
                         skip_bad_rows=skip_bad_rows, status="done" if result.imported else "uploaded",
                         total_rows=result.total, created=result.created, updated=result.updated,
                         skipped=result.skipped, errors=[e.as_dict() for e in result.errors],
                         warnings=[w.as_dict() for w in result.warnings], strict=strict, finished_at=utcnow())
    if errors_out and (result.errors or result.warnings):
        errors_out.write_text(importer.errors_csv(result.errors, warnings=result.warnings), encoding="utf-8")
    for code, count, example in importer.summarise(result.warnings):
        click.echo(f"note on {count} rows ({code}), e.g. row {example['row']}: {importer.issue_text(example)}", err=True)
    for error in result.errors[:20]:
        click.echo(f"row {error.row}, {error.field or '-'}: {error.reason}", err=True)
    if len(result.errors) > 20:
        click.echo(f"… and {len(result.errors) - 20} more errors", err=True)
    if not result.imported:
        raise click.ClickException(f"nothing imported: {result.skipped} of {result.total} rows have errors "
                                   "(fix them, or use --skip-bad-rows)")
    click.echo(f"Imported {result.total - result.skipped} of {result.total} rows ({result.encoding}): "
               f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
               f"{result.skipped} bad rows skipped.")


@audience.command("rfm")
@with_appcontext
def rfm_command():
    """Recompute RFM classes (rfm:A … rfm:H) and super users from the orders now."""
    from campaigner.audience.rfm import recompute_rfm
    from campaigner.db import database

    with database.connection_context():
        report = recompute_rfm()
    click.echo(f"{report['contacts']} contacts with orders, GMV {report['total_gmv']}; {report['changed']} changed.")
    for letter, row in report["classes"].items():
        click.echo(f"  rfm:{letter}  {row['contacts']:>8} contacts  {row['share'] * 100:5.1f}% of GMV")
    sup = report["super_users"]
    click.echo(f"  super-user {sup['contacts']:>6} contacts  {sup['share'] * 100:5.1f}% of GMV")


@audience.command("count")
@click.argument("expression", default="")
@click.option("--channel", default=None, help="Only contacts reachable on this channel.")
@click.option("--sql", "show_sql", is_flag=True, help="Also print the SQL it compiles to.")
@with_appcontext
def count_command(expression: str, channel: str | None, show_sql: bool):
    """Count the contacts an audience expression selects."""
    from campaigner.audience.expressions import ExpressionError, count_audience, explain
    from campaigner.db import database

    with database.connection_context():
        try:
            count = count_audience(expression, channel)
            sql = explain(expression, channel) if show_sql else None
        except ExpressionError as exc:
            raise click.ClickException(f"{exc.message}\n{exc.caret(expression)}") from None
    click.echo(count)
    if sql:
        click.echo(sql)
