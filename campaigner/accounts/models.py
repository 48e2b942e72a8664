"""Users, their roles and API tokens."""
from __future__ import annotations

import hashlib

import peewee

from campaigner.db import BaseModel, utcnow

# admin may do everything; the others each own a part of the work.
ROLES = ("editor", "ops", "developer", "admin")


class User(BaseModel):
    email = peewee.CharField(unique=True)
    name = peewee.CharField(default="")
    password_hash = peewee.CharField()
    role = peewee.CharField(default="editor", choices=[(r, r) for r in ROLES])
    locale = peewee.CharField(null=True)  # None: from the browser's language
    timezone = peewee.CharField(null=True)  # None: the instance's TIMEZONE
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_login_at = peewee.DateTimeField(null=True)
    # A generated password (the first admin's, or one made for a new user) is one-time: replaced at first sign-in.
    must_change_password = peewee.BooleanField(default=False)

    # The four members Flask-Login asks for, without importing Flask here.
    is_anonymous = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles

    def __str__(self) -> str:
        return self.name or self.email


class ApiToken(BaseModel):
    """A Bearer token for /api/v1. Only its SHA-256 is stored; the token is shown once."""

    user = peewee.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = peewee.CharField(default="")
    token_hash = peewee.CharField(unique=True)
    prefix = peewee.CharField()  # the first characters, so a user can tell tokens apart
    created_at = peewee.DateTimeField(default=utcnow)
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class UserSession(BaseModel):
    """A signed-in browser. The cookie holds only `key`; deleting the row signs that browser out."""

    key = peewee.CharField(primary_key=True)
    user = peewee.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)


MODELS = [User, ApiToken, UserSession]
