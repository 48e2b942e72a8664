"""Sign in and out."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from campaigner.accounts.forms import LoginForm
from campaigner.accounts.services import authenticate, end_session, start_session
from campaigner.audit import record_audit
from campaigner.extensions import limiter
from campaigner.permissions import requires
from campaigner.web import public, render_page

bp = Blueprint("accounts", __name__)

# The session cookie's key for the server-side session (campaigner.accounts.services.start_session).
SESSION_KEY = "sid"


def _login_limit():
    from flask import current_app

    return current_app.config["CAMPAIGNER"]["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never an open redirect through ?next=.
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user:
            session[SESSION_KEY] = start_session(user)
            login_user(user)
            record_audit(user, "signed_in", user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong email or password."))
    return render_page("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@requires("account.self")
def logout():
    end_session(session.pop(SESSION_KEY, None))
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.login"))
