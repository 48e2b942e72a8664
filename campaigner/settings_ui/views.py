"""Settings: your preferences, password and API tokens; users (admins only)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _, refresh
from flask_login import current_user

from campaigner.accounts.forms import ChangePasswordForm, PreferencesForm, TokenForm, UserForm
from campaigner.accounts.models import ApiToken, User
from campaigner.accounts.services import AccountError, change_password, create_token, create_user, revoke_token
from campaigner.audit import record_audit
from campaigner.localtime import timezone_names
from campaigner.web import render_page, roles_required

bp = Blueprint("settings_ui", __name__, url_prefix="/settings")


def _tokens():
    return (ApiToken.select().where(ApiToken.user == current_user.id, ApiToken.revoked_at.is_null())
            .order_by(ApiToken.created_at.desc()))


@bp.route("/", methods=["GET", "POST"])
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
def password():
    form = ChangePasswordForm(prefix="pw")
    if form.validate_on_submit():
        try:
            change_password(current_user._get_current_object(), form.current.data, form.new.data)
        except AccountError as exc:
            form.current.errors.append(_("The current password is not right.") if "current" in str(exc) else str(exc))
        else:
            record_audit(current_user, "changed_password", current_user._get_current_object())
            flash(_("Password changed."), "success")
            return redirect(url_for(".index"))
    return render_page("settings_ui/index.html", prefs=PreferencesForm(prefix="prefs", obj=current_user),
                       password_form=form, token_form=TokenForm(prefix="token"), tokens=_tokens(),
                       new_token=None), 400


@bp.route("/tokens", methods=["POST"])
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
def tokens_revoke(token_id: int):
    row = ApiToken.get_or_none(ApiToken.id == token_id, ApiToken.user == current_user.id)
    if row is None:
        abort(404)
    revoke_token(row)
    record_audit(current_user, "revoked", row, summary=row.name)
    flash(_("Token revoked."), "success")
    return render_page("settings_ui/index.html", block="tokens", prefs=PreferencesForm(prefix="prefs", obj=current_user),
                       password_form=ChangePasswordForm(prefix="pw"), token_form=TokenForm(prefix="token"),
                       tokens=_tokens(), new_token=None)


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
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
@roles_required("admin")
def user_update(user_id: int):
    user = User.get_or_none(User.id == user_id) or abort(404)
    role = request.form.get("role")
    if role and role != user.role:
        from campaigner.accounts.models import ROLES

        if role not in ROLES:
            abort(400)
        user.role = role
    if "active" in request.form:
        user.active = request.form["active"] == "1"
    if user.id == current_user.id and (user.role != "admin" or not user.active):
        flash(_("You cannot remove your own admin role or deactivate yourself."), "error")
        return redirect(url_for(".users"))
    user.save()
    record_audit(current_user, "changed", user, summary=f"{user.email}: {user.role}, active={user.active}")
    flash(_("User updated."), "success")
    return redirect(url_for(".users"))
