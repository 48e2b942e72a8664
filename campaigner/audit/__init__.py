"""Audit log: record who created, changed, scheduled, paused or cancelled what."""
from __future__ import annotations

from campaigner.audit.models import AuditLog


def says(message: str, **params) -> dict:
    """Audit `details` that say the summary as a catalogue message (marked for translation) with its values,
    so a page shows it in the reader's language (`campaigner.labels.audit_summary`)."""
    return {"says": {"message": message, "params": params}}


def record_audit(user, action: str, obj=None, *, object_type: str | None = None,
                 object_id=None, summary: str = "", details: dict | None = None) -> AuditLog:
    """Write one audit entry; `obj` is a model instance, or pass type and id."""
    if obj is not None:
        object_type = object_type or type(obj).__name__.lower()
        object_id = obj.get_id() if hasattr(obj, "get_id") else getattr(obj, "id", None)
    return AuditLog.create(
        user=user if getattr(user, "id", None) else None,
        action=action,
        object_type=object_type or "",
        object_id=None if object_id is None else str(object_id),
        summary=summary,
        details=details,
    )
