"""Per-channel opt-outs: who asked not to be reached on which channel, when and how."""
from __future__ import annotations

from campaigner.audience.models import OptOut
from campaigner.db import utcnow


def opt_out(contact, channel: str, source: str) -> bool:
    """Opt `contact` out of `channel`; return False when it already was."""
    # The row count, not the insert id: SQLite reports the last id even when the row was ignored.
    created = (OptOut.insert(contact=contact, channel=channel, source=source, at=utcnow())
               .on_conflict_ignore().as_rowcount().execute())
    return bool(created)


def opt_in(contact, channel: str) -> bool:
    """Remove the contact's opt-out of `channel`; return False when there was none."""
    return bool(OptOut.delete().where(OptOut.contact == contact, OptOut.channel == channel).execute())


def is_opted_out(contact, channel: str) -> bool:
    """Whether the contact opted out of `channel`."""
    return OptOut.select().where(OptOut.contact == contact, OptOut.channel == channel).exists()
