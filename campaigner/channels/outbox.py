"""An outbox: messages appended as JSON lines to a file instead of sent.

For trying a channel without a provider account (SMS outbox mode, the
mini-program stub). Each record is one line written under an exclusive lock,
so worker threads and processes appending at once never interleave lines.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

_lock = threading.Lock()


def outbox_path(instance_path: str | None, channel_name: str, configured: str | None = None) -> Path:
    """Where a channel's outbox is: `configured`, else <instance>/outbox/<channel>.jsonl."""
    if configured:
        return Path(configured).expanduser()
    base = Path(instance_path) if instance_path else Path.cwd() / "instance"
    return base / "outbox" / f"{channel_name}.jsonl"


def append_to_outbox(path: Path, record: dict) -> None:
    """Append `record` as one JSON line to the outbox at `path`."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)  # closing releases the lock


def read_outbox(path: Path) -> list[dict]:
    """Every record in the outbox at `path` (empty when there is none yet)."""
    if not Path(path).exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
