"""API endpoints for plugins and channel settings (secrets always masked)."""
from __future__ import annotations

import logging

from flask import current_app, g, jsonify

from campaigner.api import ApiError, bp, found, json_body
from campaigner.audit import record_audit
from campaigner.channels import ChannelError, ConfigError, PermanentError
from campaigner.channels.config import (
    config_problems,
    environment_config,
    mask_config,
    save_config,
    stored_config,
)
from campaigner.channels.test_message import send_test_message
from campaigner.permissions import requires
from campaigner.plugins import plugin_report

log = logging.getLogger(__name__)


def _manager():
    return current_app.extensions["campaigner"].plugins


def _channel(name: str):
    return found(_manager().channel(name), f"no channel named {name!r}")


def _config_view(channel) -> dict:
    settings = _manager().settings
    from_env = environment_config(channel, settings)
    return {
        "channel": channel.name,
        "config": mask_config(channel.config_schema, {**stored_config(channel.name), **from_env}),
        "from_environment": sorted(from_env),
        "problems": config_problems(channel, settings),
        "schema": channel.describe()["config_schema"],
    }


@bp.route("/plugins")
@requires("plugins.read")
def plugins_list():
    """Plugins, their hooks and channels, each channel's config status, and load errors.
    ---
    get:
      summary: List plugins and channels
      description: Needs the developer, ops or admin role.
      responses:
        200:
          description: The listing `campaigner plugins --json` prints
          content:
            application/json:
              schema:
                type: object
                properties:
                  plugins: {type: array, items: {type: object}}
                  channels: {type: array, items: {type: object}}
                  errors: {type: array, items: {type: object}}
        403: Forbidden
    """
    return jsonify(plugin_report(_manager()))


@bp.route("/channels/<name>/config", methods=["GET"])
@requires("plugins.read")
def channel_config(name: str):
    """A channel's settings with secrets masked, and what is wrong with them.
    ---
    get:
      summary: Read a channel's settings
      responses:
        200:
          description: Masked settings, fields set by the environment, problems, schema
          content:
            application/json:
              schema:
                type: object
                properties:
                  channel: {type: string}
                  config: {type: object}
                  from_environment: {type: array, items: {type: string}}
                  problems: {type: object}
        403: Forbidden
        404: NotFound
    """
    return jsonify(_config_view(_channel(name)))


@bp.route("/channels/<name>/config", methods=["PUT"])
@requires("channels.configure")
def channel_config_save(name: str):
    """Change a channel's settings; fields left out keep their value, as do secrets sent masked.
    ---
    put:
      summary: Change a channel's settings
      description: Needs the developer or admin role. Validated against the channel's schema.
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, additionalProperties: true}
      responses:
        200: {description: "The saved settings, masked"}
        400: {description: Invalid settings; `fields` maps each bad field to what is wrong}
        403: Forbidden
        404: NotFound
    """
    channel = _channel(name)
    body = json_body()
    known = {f.name for f in channel.config_schema}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(f"unknown settings: {', '.join(unknown)}", 400, fields={k: "unknown setting" for k in unknown})
    submitted = {**stored_config(channel.name), **body}
    try:
        stored = save_config(channel, submitted, _manager().settings)
    except ConfigError as exc:
        raise ApiError("invalid channel settings", 400, fields=exc.errors) from None
    record_audit(g.api_user, "changed", object_type="channel", object_id=channel.name,
                 summary="Channel settings saved (API)", details=mask_config(channel.config_schema, stored))
    return jsonify(_config_view(channel))


@bp.route("/channels/<name>/test", methods=["POST"])
@requires("channels.configure")
def channel_test(name: str):
    """Send a test message through a channel to an address.
    ---
    post:
      summary: Send a test message
      description: Needs the developer or admin role. Nothing is recorded as a delivery.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [address]
              properties:
                address: {type: string}
                text: {type: string, description: Markdown}
                title: {type: string}
      responses:
        200:
          description: Sent; the provider's id and the message as rendered
          content:
            application/json:
              schema:
                type: object
                properties:
                  provider_id: {type: string, nullable: true}
                  to: {type: string}
                  body: {type: string}
        400: {description: Bad request or the channel's settings are invalid}
        403: Forbidden
        404: NotFound
        422: {description: The channel did not send it; `transient` says whether trying later may work}
    """
    channel = _channel(name)
    body = json_body()
    address = body.get("address")
    if not isinstance(address, str) or not address.strip():
        raise ApiError("address is required")
    text, title = body.get("text") or "", body.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise ApiError("text and title must be strings")
    try:
        outcome = send_test_message(_manager(), channel.name, address, text, title)
    except ConfigError as exc:
        raise ApiError("the channel's settings are invalid", 400, fields=exc.errors) from None
    except PermanentError as exc:
        raise ApiError(f"refused: {exc}", 422, transient=False) from None
    except ChannelError as exc:
        raise ApiError(f"not sent: {exc}", 422, transient=True) from None
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported to the caller testing it, and logged
        log.exception("test message through %s failed", channel.name)
        raise ApiError(f"the plugin failed: {type(exc).__name__}: {exc}", 422, transient=False) from None
    record_audit(g.api_user, "test_sent", object_type="channel", object_id=channel.name,
                 summary=f"{address}: sent (API)")
    return jsonify({"provider_id": outcome.result.provider_id, "to": outcome.message.to,
                    "subject": outcome.message.subject, "body": outcome.message.body})
