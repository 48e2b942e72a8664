"""The ``campaigner`` command: run the app, its worker, and administer it."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from campaigner.settings import SettingsError


def _create_app():
    from campaigner import create_app

    try:
        return create_app()
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


class CampaignerGroup(FlaskGroup):
    """Flask's group for the app context, without Flask's own options and extensions' commands.

    A user asking `campaigner --help` wants Campaigner's commands: not Flask's
    -e/-A/--debug (the app is always Campaigner's, configured by CAMPAIGNER_*
    settings) nor the groups extensions add to `app.cli` (Flask-Limiter's
    `limiter`). Listing only our own commands also means --help builds no app.
    """

    FLASK_OPTIONS = {"env_file", "app", "debug"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.params = [param for param in self.params if param.name not in self.FLASK_OPTIONS]

    def list_commands(self, ctx):
        return click.Group.list_commands(self, ctx)

    def get_command(self, ctx, name):
        return click.Group.get_command(self, ctx, name)


@click.group(cls=CampaignerGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main():
    """Campaigner: plan, send and check private-domain content."""


# Each feature's own command group, as "module:attribute"; explicit, like the blueprints.
FEATURE_COMMANDS: list[str] = [
    "campaigner.plugins_cli:plugins_command",
    "campaigner.content.cli:content",
    "campaigner.audience.cli:audience",
]


def _add_feature_commands() -> None:
    import importlib

    for spec in FEATURE_COMMANDS:
        module, _, attr = spec.partition(":")
        main.add_command(getattr(importlib.import_module(module), attr))


# ---------------------------------------------------------------- running

# Loggers that speak for the queue's own machinery: every task enqueued, started and finished,
# two dozen lines a minute of periodic housekeeping. Shown from -v on.
HOUSEKEEPING_LOGGERS = ("huey",)

verbose_option = click.option(
    "-v", "--verbose", count=True,
    help="More on the console: -v adds the queue's task-by-task lines, -vv everything (debug).")


def configure_console_logging(verbosity: int) -> None:
    """Quiet by default: campaigns started, finished, paused (with the reason) and failures; -v/-vv for more."""
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for name in HOUSEKEEPING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if verbosity == 0 else logging.NOTSET)


def listen_here(app, host: str, port: int) -> None:
    """Make links in messages point where this server listens unless BASE_URL says otherwise (and warn if it does)."""
    from campaigner.db import database
    from campaigner.public_address import follow_listening_address

    settings = app.config["CAMPAIGNER"]
    with database.connection_context():
        warning = follow_listening_address(settings, host, port)
    if warning:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    else:
        click.echo(f"Links in messages point at {settings['BASE_URL']} (set CAMPAIGNER_BASE_URL to the address "
                   f"readers reach).")


def prepare_instance(app, quiet: bool = False) -> None:
    """Apply migrations, make the first admin, load the sample library on first start."""
    from campaigner.accounts.services import ensure_admin
    from campaigner.db import database
    from campaigner.migrations import upgrade

    settings = app.config["CAMPAIGNER"]
    with database.connection_context():
        ran = upgrade()
        if ran and not quiet:
            click.echo(f"Applied migrations: {', '.join(ran)}")
        password = ensure_admin(settings["ADMIN_EMAIL"], settings["ADMIN_PASSWORD"])
        if password:
            click.secho("=" * 60, fg="green")
            click.secho(f"Admin created: {settings['ADMIN_EMAIL']}", fg="green")
            if not settings["ADMIN_PASSWORD"]:
                click.secho(f"One-time password: {password}", fg="green", bold=True)
                click.secho("Change it under Settings after signing in.", fg="green")
            click.secho("=" * 60, fg="green")
        from campaigner.content.library_files import load_sample_library

        load_sample_library(echo=(lambda _msg: None) if quiet else click.echo)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM end the server loop, also when the shell started us with SIGINT ignored."""

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _serve(app, host: str, port: int, threads: int):
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="campaigner")
    return server


@main.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@verbose_option
@with_appcontext
def up(host: str, port: int, verbose: int):
    """Run everything in one process: web UI, worker and scheduler (SQLite by default)."""
    from campaigner.db import close_all_connections
    from campaigner.queue import Worker

    configure_console_logging(verbose)
    app = current_app._get_current_object()
    prepare_instance(app)
    listen_here(app, host, port)
    worker = Worker(workers=app.config["CAMPAIGNER"]["WORKERS"])
    worker.start()
    server = _serve(app, host, port, threads=8)
    # Handlers first, then the line that tells the user (or a script) Ctrl-C works: a Ctrl-C right after
    # it must reach the clean shutdown below, or the worker's threads keep the process alive.
    _stop_on_signals()
    try:
        click.secho(f"Campaigner is running at http://{host}:{port}/  (Ctrl-C stops it)", fg="cyan")
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM (see _stop_on_signals): the normal way out, to the clean shutdown below
    finally:
        click.echo("Stopping: finishing tasks in progress…")
        worker.stop()
        close_all_connections()
        click.echo("Stopped.")


@main.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@verbose_option
@with_appcontext
def web(host: str, port: int, threads: int, verbose: int):
    """Run only the web UI and API (start workers with `campaigner worker`)."""
    from campaigner.db import close_all_connections

    configure_console_logging(verbose)
    app = current_app._get_current_object()
    prepare_instance(app)
    listen_here(app, host, port)
    server = _serve(app, host, port, threads=threads)
    _stop_on_signals()
    try:
        click.echo(f"Campaigner web at http://{host}:{port}/")
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM (see _stop_on_signals): the normal way out, to the clean shutdown below
    close_all_connections()


@main.command("worker")
@click.option("--workers", "-w", type=int, default=None, help="Worker threads (default: CAMPAIGNER_WORKERS).")
@click.option("--no-periodic", is_flag=True, help="Leave the scheduler to other workers.")
@verbose_option
@with_appcontext
def worker(workers: int | None, no_periodic: bool, verbose: int):
    """Run a queue worker with the scheduler; run as many as you like against Redis."""
    from campaigner.db import database
    from campaigner.public_address import adopt_stored_address
    from campaigner.queue import Worker

    configure_console_logging(verbose)
    settings = current_app.config["CAMPAIGNER"]
    with database.connection_context():
        adopt_stored_address(settings)  # where `campaigner web` listens, when BASE_URL is unset
    Worker(workers=workers or settings["WORKERS"], periodic=not no_periodic).run_forever()


# ---------------------------------------------------------------- database


@main.group("db")
def db_group():
    """Database schema."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade():
    """Apply the migrations not yet applied (a second run does nothing)."""
    from campaigner.db import database
    from campaigner.migrations import upgrade

    with database.connection_context():
        ran = upgrade()
    click.echo(f"Applied: {', '.join(ran)}" if ran else "Nothing to apply: the schema is current.")


# ---------------------------------------------------------------- users and tokens


@main.group("user")
def user_group():
    """Users."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(["editor", "ops", "developer", "admin"]))
@click.option("--name", default="")
@click.option("--password", default=None, help="Default: generated and printed once.")
@with_appcontext
def user_create(email, role, name, password):
    """Create a user and print its password."""
    from campaigner.accounts.services import AccountError, create_user
    from campaigner.db import database

    with database.connection_context():
        try:
            user, password = create_user(email, role, password, name=name)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.email} ({user.role}). Password: {password}")


@main.group("token")
def token_group():
    """API tokens."""


@token_group.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli")
@with_appcontext
def token_create(email, name):
    """Create an API token for a user and print it (it is not shown again)."""
    from campaigner.accounts.models import User
    from campaigner.accounts.services import create_token
    from campaigner.db import database

    with database.connection_context():
        user = User.get_or_none(User.email == email.strip().lower())
        if user is None:
            raise click.ClickException(f"no user with the email {email}")
        _, token = create_token(user, name)
    click.echo(token)


@token_group.command("revoke")
@click.option("--prefix", required=True, help="The token's first characters, as listed in Settings.")
@with_appcontext
def token_revoke(prefix):
    """Revoke API tokens starting with a prefix."""
    from campaigner.accounts.models import ApiToken
    from campaigner.accounts.services import revoke_token
    from campaigner.db import database

    with database.connection_context():
        rows = list(ApiToken.select().where(ApiToken.prefix == prefix[:10], ApiToken.revoked_at.is_null()))
        for row in rows:
            revoke_token(row)
    click.echo(f"Revoked {len(rows)} token(s).")


_add_feature_commands()

if __name__ == "__main__":
    main()
