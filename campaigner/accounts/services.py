"""Accounts: users, passwords, sessions and API tokens, without Flask.

A browser's session is a `UserSession` row; the signed cookie carries only its key.
Signing out deletes the row, so a cookie copied before is worth nothing after; a
password change, a deactivation and "sign out everywhere" delete all of a user's
rows. A session unused for the idle time (CAMPAIGNER_SESSION_IDLE_MINUTES) ends.
"""
from __future__ import annotations

import datetime as dt
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from campaigner.accounts.models import ROLES, ApiToken, User, UserSession
from campaigner.db import utcnow

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_user(email: str, role: str, password: str | None = None, name: str = "") -> tuple[User, str]:
    """Create a user; return it with its password (generated when none is given)."""
    email = (email or "").strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if User.select().where(User.email == email).exists():
        raise AccountError(f"a user with the email {email} exists already")
    generated = not password
    password = password or secrets.token_urlsafe(12)
    _check_password(password)
    user = User.create(email=email, role=role, name=name, must_change_password=generated,
                       password_hash=generate_password_hash(password))
    return user, password


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = User.get_or_none(User.email == (email or "").strip().lower())
    if user is None or not user.active:
        # Hash anyway so a wrong email takes as long as a wrong password.
        check_password_hash(generate_password_hash("x"), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    user.last_login_at = utcnow()
    user.save(only=[User.last_login_at])
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise AccountError("the current password is not right")
    set_password(user, new)


def set_password(user: User, new: str) -> None:
    """Replace the password and end every session of the user (the caller starts a new one for itself)."""
    _check_password(new)
    if check_password_hash(user.password_hash, new) and user.must_change_password:
        raise AccountError("the new password must differ from the one-time password")
    user.password_hash = generate_password_hash(new)
    user.must_change_password = False
    user.save(only=[User.password_hash, User.must_change_password])
    end_all_sessions(user)


def set_active(user: User, active: bool) -> None:
    """Activate or deactivate a user; a deactivated user's sessions end at once."""
    user.active = active
    user.save(only=[User.active])
    if not active:
        end_all_sessions(user)


# last_seen_at is written at most this often, so a busy user costs one UPDATE a minute, not one a request.
SEEN_RESOLUTION = dt.timedelta(seconds=60)


def start_session(user: User) -> str:
    """A new session for `user`; the key goes in the signed cookie."""
    key = secrets.token_urlsafe(32)
    UserSession.create(key=key, user=user)
    return key


def session_user(key: str | None, idle_minutes: int) -> User | None:
    """The active user of a live session, or None (unknown, ended, idle too long); a live one is marked seen."""
    if not key:
        return None
    row = UserSession.select(UserSession, User).join(User).where(UserSession.key == key).first()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if now - row.last_seen_at > dt.timedelta(minutes=idle_minutes):
        row.delete_instance()
        return None
    if now - row.last_seen_at > SEEN_RESOLUTION:
        UserSession.update(last_seen_at=now).where(UserSession.key == key).execute()
    return row.user


def end_session(key: str | None) -> None:
    if key:
        UserSession.delete().where(UserSession.key == key).execute()


def end_all_sessions(user: User) -> int:
    """Sign `user` out everywhere; return how many sessions ended."""
    return UserSession.delete().where(UserSession.user == user).execute()


def ensure_admin(email: str, password: str | None) -> str | None:
    """On a first start with no user, create an admin; return its password (None if users exist)."""
    if User.select().exists():
        return None
    _, password = create_user(email, "admin", password, name="Admin")
    return password


def create_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create an API token; the clear token is returned once and never stored."""
    token = "cmp_" + secrets.token_urlsafe(32)
    row = ApiToken.create(user=user, name=name, token_hash=ApiToken.hash(token), prefix=token[:10])
    return row, token


def revoke_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    token.save(only=[ApiToken.revoked_at])


def user_for_token(token: str) -> User | None:
    """The active user a valid, unrevoked token belongs to."""
    if not token:
        return None
    row = (ApiToken.select(ApiToken, User).join(User)
           .where(ApiToken.token_hash == ApiToken.hash(token), ApiToken.revoked_at.is_null())
           .first())
    if row is None or not row.user.active:
        return None
    ApiToken.update(last_used_at=utcnow()).where(ApiToken.id == row.id).execute()
    return row.user
