"""``campaigner plugins``: which plugins loaded, their hooks and channels, and what failed."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@with_appcontext
def plugins_command(as_json: bool):
    """List plugins, their hooks and channels, whether each channel's config is valid, and load errors."""
    from campaigner.db import database
    from campaigner.plugins import plugin_report

    manager = current_app.extensions["campaigner"].plugins
    with database.connection_context():
        report = plugin_report(manager)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return
    for plugin in report["plugins"]:
        version = f" {plugin['version']}" if plugin["version"] else ""
        click.secho(f"{plugin['name']}{version}", bold=True, nl=False)
        click.echo(f"  ({plugin['source']}: {plugin['location']})")
        click.echo(f"  hooks:    {', '.join(plugin['hooks']) or '-'}")
        click.echo(f"  channels: {', '.join(plugin['channels']) or '-'}")
    if report["channels"]:
        click.echo()
        click.secho("Channels", bold=True)
    for channel in report["channels"]:
        if channel["config_valid"]:
            status = click.style("config valid", fg="green")
        elif channel["config_valid"] is None:
            status = click.style("config not checked", fg="yellow")
        else:
            problems = "; ".join(f"{k}: {v}" for k, v in channel["config_errors"].items())
            status = click.style(f"config invalid ({problems})", fg="red")
        click.echo(f"  {channel['name']:<14} {channel['label']} [{channel['plugin']}]  {status}")
    if report["errors"]:
        click.echo()
        click.secho("Failed to load", bold=True, fg="red")
        for error in report["errors"]:
            click.echo(f"  {error['plugin']}: {error['error']}")
