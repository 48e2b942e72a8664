"""The Plugins page: plugins, their hooks and channels, channel settings and test messages.

Ops may look; developers and admins may change settings and send test messages.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField, TextAreaField,
                     URLField)
from wtforms.validators import DataRequired, Length

from campaigner.audit import record_audit
from campaigner.channels import ChannelError, ConfigError, PermanentError, UnknownChannel
from campaigner.channels.config import (
    MASK,
    config_problems,
    env_name,
    environment_config,
    mask_config,
    save_config,
    stored_config,
)
from campaigner.channels.test_message import DEFAULT_TEXT, send_test_message
from campaigner.permissions import can, requires
from campaigner.plugins import plugin_report
from campaigner.web import render_page

log = logging.getLogger(__name__)

bp = Blueprint("plugins_ui", __name__, url_prefix="/plugins")



def _manager():
    return current_app.extensions["campaigner"].plugins


def _channel_or_404(name: str):
    channel = _manager().channel(name)
    if channel is None:
        abort(404)
    return channel


def can_edit() -> bool:
    return can(current_user, "channels.configure")


# ---------------------------------------------------------------- forms


class TestMessageForm(FlaskForm):
    address = StringField(_l("Send to"), validators=[DataRequired(), Length(max=300)])
    text = TextAreaField(_l("Message (Markdown)"), default=DEFAULT_TEXT, validators=[Length(max=5000)])


def config_form(channel, data=None):
    """A form built from the channel's config schema (attribute names prefixed: a field may be called "data")."""

    class ChannelConfigForm(FlaskForm):
        """Fields are added below, one per entry of the channel's config schema."""

    for f in channel.config_schema:
        kwargs = {"label": f.label, "description": f.help}
        if f.type == "boolean":
            field = BooleanField(**kwargs)
        elif f.type == "choice":
            field = SelectField(choices=[SelectChoice(c) for c in f.choices], **kwargs)
        elif f.secret:
            field = PasswordField(**kwargs)
        elif f.type == "text":
            field = TextAreaField(**kwargs)
        elif f.type == "url":
            field = URLField(**kwargs)
        elif f.type == "email":
            field = EmailField(**kwargs)
        else:
            field = StringField(**kwargs)
        setattr(ChannelConfigForm, "f_" + f.name, field)
    return ChannelConfigForm(prefix="config", data=data)


def _form_data(channel) -> dict:
    stored = stored_config(channel.name)
    data = {}
    for f in channel.config_schema:
        value = stored.get(f.name, f.default)
        data["f_" + f.name] = None if f.secret else value
    return data


def _channel_page(channel, form=None, test_form=None, outcome=None, status: int = 200):
    settings = _manager().settings
    from_env = environment_config(channel, settings)
    stored = stored_config(channel.name)
    problems = config_problems(channel, settings)
    shown = mask_config(channel.config_schema, {**stored, **from_env})
    response = render_page(
        "plugins_ui/channel.html", channel=channel, description=channel.describe(),
        plugin=_manager().channel_plugin(channel.name),
        form=form or config_form(channel, _form_data(channel)), test_form=test_form or TestMessageForm(prefix="test"),
        shown=shown, from_env=from_env, env_names={f.name: env_name(channel.name, f.name) for f in channel.config_schema},
        secret_set={f.name for f in channel.config_schema if f.secret and (stored.get(f.name) or from_env.get(f.name))},
        problems=problems, can_edit=can_edit(), outcome=outcome, mask=MASK)
    response.status_code = status
    return response


# ---------------------------------------------------------------- views


@bp.route("/")
@requires("plugins.read")
def index():
    """Every plugin with its hooks and channels, each channel's config status, and what failed to load."""
    return render_page("plugins_ui/index.html", report=plugin_report(_manager()), can_edit=can_edit())


@bp.route("/channels/<name>", methods=["GET"])
@requires("plugins.read")
def channel(name: str):
    """One channel: what it can do, its settings, and a test message."""
    return _channel_page(_channel_or_404(name))


@bp.route("/channels/<name>", methods=["POST"])
@requires("channels.configure")
def save(name: str):
    """Validate and store the channel's settings; secrets left empty keep their value."""
    channel = _channel_or_404(name)
    form = config_form(channel)
    if not form.validate_on_submit():
        return _channel_page(channel, form=form, status=400)
    submitted = {f.name: form["f_" + f.name].data for f in channel.config_schema}
    try:
        stored = save_config(channel, submitted, _manager().settings)
    except ConfigError as exc:
        for field_name, message in exc.errors.items():
            target = form._fields.get("f_" + field_name)
            if target is not None:
                target.errors = [*target.errors, message] if isinstance(target.errors, list) else [message]
            else:
                flash(f"{field_name}: {message}", "error")
        return _channel_page(channel, form=form, status=400)
    record_audit(current_user, "changed", object_type="channel", object_id=channel.name,
                 summary=_("Channel settings saved"), details=mask_config(channel.config_schema, stored))
    flash(_("Settings of %(channel)s saved.", channel=channel.label), "success")
    return redirect(url_for(".channel", name=channel.name))


@bp.route("/channels/<name>/test", methods=["POST"])
@requires("channels.configure")
def test(name: str):
    """Send a test message to a given address and show what happened."""
    channel = _channel_or_404(name)
    form = TestMessageForm(prefix="test")
    outcome, status = None, 200
    if form.validate_on_submit():
        outcome, status = _test_send(channel, form.address.data, form.text.data or "")
    else:
        status = 400
    if request.headers.get("HX-Request"):
        # 200 even for a failed send: htmx swaps only 2xx answers, and the partial says what went wrong.
        return render_page("plugins_ui/channel.html", block="test_message", channel=channel,
                           test_form=form, outcome=outcome, can_edit=True)
    return _channel_page(channel, test_form=form, outcome=outcome, status=status)


def _test_send(channel, address: str, text: str) -> tuple[dict, int]:
    try:
        result = send_test_message(_manager(), channel.name, address, text)
    except UnknownChannel:
        abort(404)
    except ConfigError as exc:
        outcome = {"ok": False, "error": _("The channel's settings are not valid: %(errors)s", errors=str(exc))}
        status = 400
    except PermanentError as exc:
        outcome = {"ok": False, "error": _("Refused: %(reason)s", reason=str(exc))}
        status = 422
    except ChannelError as exc:
        outcome = {"ok": False, "error": _("Not sent, try again later: %(reason)s", reason=str(exc))}
        status = 422
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is shown to the developer testing it, and logged
        log.exception("test message through %s failed", channel.name)
        outcome = {"ok": False, "error": _("The plugin failed: %(error)s", error=f"{type(exc).__name__}: {exc}")}
        status = 422
    else:
        outcome = {"ok": True, "provider_id": result.result.provider_id, "to": result.message.to,
                   "subject": result.message.subject, "body": result.message.body}
        status = 200
    record_audit(current_user, "test_sent", object_type="channel", object_id=channel.name,
                 summary=f"{address}: {'sent' if outcome['ok'] else outcome['error']}"[:500])
    return outcome, status
