"""Settings: your preferences, password and API tokens; users (admins only)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _, refresh
from flask_login import current_user, logout_user

from campaigner.accounts.forms import ChangePasswordForm, PreferencesForm, TokenForm, UserForm
from campaigner.accounts.models import ApiToken, User
from campaigner.accounts.services import (AccountError, change_password, create_token, create_user, end_all_sessions,
                                          revoke_token, set_active, start_session)
from campaigner.accounts.views import SESSION_KEY
from campaigner.audit import record_audit
from campaigner.localtime import timezone_names
from campaigner.permissions import requires
from campaigner.web import is_htmx, render_page

bp = Blueprint("settings_ui", __name__, url_prefix="/settings")


def _tokens():
    return (ApiToken.select().where(ApiToken.user == current_user.id, ApiToken.revoked_at.is_null())
            .order_by(ApiToken.created_at.desc()))


@bp.route("/", methods=["GET", "POST"])
@requires("account.self")
def index():
    prefs = PreferencesForm(prefix="prefs", obj=current_user)
    instance_zone = current_app.config["CAMPAIGNER"]["TIMEZONE"]
    prefs.timezone.choices = [("", _("As the instance (%(zone)s)", zone=instance_zone)),
                              *[(name, name) for name in timezone_names()]]
    if request.method == "GET":
        prefs.locale.data = current_user.locale or ""
        prefs.timezone.data = current_user.timezone or ""
    if prefs.validate_on_submit():
        current_user.name = prefs.name.data or ""
        current_user.locale = prefs.locale.data or None
        current_user.timezone = prefs.timezone.data or None
        current_user.save()
        refresh()  # the message below in the language just chosen
        flash(_("Preferences saved."), "success")
        return redirect(url_for(".index"))
    page = render_page("settings_ui/index.html", prefs=prefs, password_form=ChangePasswordForm(prefix="pw"),
                       token_form=TokenForm(prefix="token"), tokens=_tokens(), new_token=None)
    return page, (400 if request.method == "POST" else 200)  # a POST that gets here was refused


@bp.route("/password", methods=["POST"])
@requires("account.self")
def password():
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            change_password(current_user._get_current_object(), form.current.data, form.new.data)
        except AccountError as exc:
            form.current.errors.append(_("The current password is not right.") if "current" in str(exc) else str(exc))
        else:
            record_audit(current_user, "changed_password", current_user._get_current_object())
            # Every session of this user ended with the change; this browser carries on in a new one.
            session[SESSION_KEY] = start_session(current_user._get_current_object())
            flash(_("Password changed. Every other session of yours is signed out."), "success")
            return redirect(url_for(".index"))
    return render_page("settings_ui/index.html", prefs=PreferencesForm(prefix="prefs", obj=current_user),
                       password_form=form, token_form=TokenForm(prefix="token"), tokens=_tokens(),
                       new_token=None), 400


@bp.route("/sessions/end", methods=["POST"])
@requires("account.self")
def sign_out_everywhere():
    """End every session of the current user, this one too."""
    ended = end_all_sessions(current_user._get_current_object())
    record_audit(current_user, "signed_out_everywhere", current_user._get_current_object(), summary=str(ended))
    session.pop(SESSION_KEY, None)
    logout_user()
    flash(_("You are signed out everywhere."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/tokens", methods=["POST"])
@requires("account.self")
def tokens_create():
    form = TokenForm(prefix="token")
    new_token = None
    status = 400
    if form.validate_on_submit():
        row, new_token = create_token(current_user._get_current_object(), form.name.data)
        record_audit(current_user, "created", row, summary=row.name)
        form = TokenForm(prefix="token", formdata=None)
        status = 200
    return render_page("settings_ui/index.html", block="tokens", prefs=PreferencesForm(prefix="prefs", obj=current_user),
                       password_form=ChangePasswordForm(prefix="pw"), token_form=form, tokens=_tokens(),
                       new_token=new_token), status


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("account.self")
def tokens_revoke(token_id: int):
    row = ApiToken.get_or_none(ApiToken.id == token_id, ApiToken.user == current_user.id)
    if row is None:
        abort(404)
    revoke_token(row)
    record_audit(current_user, "revoked", row, summary=row.name)
    message = _("Token revoked.")
    if not is_htmx():
        flash(message, "success")  # the whole page shows it; an htmx answer is only the tokens block
    return render_page("settings_ui/index.html", block="tokens", prefs=PreferencesForm(prefix="prefs", obj=current_user),
                       password_form=ChangePasswordForm(prefix="pw"), token_form=TokenForm(prefix="token"),
                       tokens=_tokens(), new_token=None, tokens_message=message if is_htmx() else None)


@bp.route("/users", methods=["GET", "POST"])
@requires("users.manage")
def users():
    form = UserForm()
    created = None
    if form.validate_on_submit():
        try:
            user, password = create_user(form.email.data, form.role.data, name=form.name.data or "")
        except AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            record_audit(current_user, "created", user, summary=f"{user.email} ({user.role})")
            created = (user, password)
            form = UserForm(formdata=None)
    return render_page("settings_ui/users.html", block="users", form=form, created=created,
                       users=User.select().order_by(User.email))


@bp.route("/users/<int:user_id>", methods=["POST"])
@requires("users.manage")
def user_update(user_id: int):
    user = User.get_or_none(User.id == user_id) or abort(404)
    role = request.form.get("role")
    if role and role != user.role:
        from campaigner.accounts.models import ROLES

        if role not in ROLES:
            abort(400)
        user.role = role
    active = request.form["active"] == "1" if "active" in request.form else user.active
    if user.id == current_user.id and (user.role != "admin" or not active):
        flash(_("You cannot remove your own admin role or deactivate yourself."), "error")
        return redirect(url_for(".users"))
    user.save()
    set_active(user, active)  # deactivated: signed out everywhere at once
    record_audit(current_user, "changed", user, summary=f"{user.email}: {user.role}, active={user.active}")
    flash(_("User updated."), "success")
    return redirect(url_for(".users"))
