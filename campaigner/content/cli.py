"""``campaigner content import DIR`` and ``campaigner content export DIR``."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("content")
def content():
    """The content library as Markdown files with YAML front matter."""


@content.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--as", "email", default=None, help="The user the new versions are recorded under.")
@with_appcontext
def import_command(directory: str, email: str | None):
    """Import every *.md under DIRECTORY, by slug; each bad file is reported and the rest still import."""
    from campaigner.accounts.models import User
    from campaigner.content.library_files import import_directory
    from campaigner.db import database

    with database.connection_context():
        user = None
        if email:
            user = User.get_or_none(User.email == email.strip().lower())
            if user is None:
                raise click.ClickException(f"no user with the email {email}")
        report = import_directory(directory, user)
    for slug in report.created:
        click.echo(f"created   {slug}")
    for slug in report.updated:
        click.echo(f"updated   {slug}")
    for name, message in report.errors:
        click.secho(f"FAILED    {name}: {message}", fg="red", err=True)
    click.echo(report.summary())
    if report.errors:
        sys.exit(1)  # scripts see that something needs fixing; the good files are imported all the same


@content.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--status", type=click.Choice(["draft", "approved", "archived"]), default=None,
              help="Only items with this status.")
@with_appcontext
def export_command(directory: str, status: str | None):
    """Write every item as DIRECTORY/<slug>.md (the format `content import` reads)."""
    from campaigner.content.library_files import export_directory
    from campaigner.content.models import ContentItem
    from campaigner.db import database

    with database.connection_context():
        items = ContentItem.select().order_by(ContentItem.slug)
        if status:
            items = items.where(ContentItem.status == status)
        written = export_directory(directory, list(items))
    click.echo(f"Exported {len(written)} item(s) to {directory}")
