"""Settings kept in the database (channel configs, the worker heartbeat, ...)."""
from __future__ import annotations

import peewee

from campaigner.db import BaseModel, JSONField, utcnow


class StoredSetting(BaseModel):
    key = peewee.CharField(primary_key=True)
    value = JSONField(null=True)
    updated_at = peewee.DateTimeField(default=utcnow)


def get_value(key: str, default=None):
    row = StoredSetting.get_or_none(StoredSetting.key == key)
    return default if row is None else row.value


def set_value(key: str, value) -> None:
    (StoredSetting.insert(key=key, value=value, updated_at=utcnow())
     .on_conflict(conflict_target=[StoredSetting.key],
                  update={StoredSetting.value: value, StoredSetting.updated_at: utcnow()})
     .execute())


MODELS = [StoredSetting]
