"""The suite never touches a database it did not create, whatever CAMPAIGNER_* the shell exports."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from campaigner.db import connect_database, database
from tests.conftest import RUN_MARKER, reset_database

ROOT = Path(__file__).resolve().parent.parent


def make_victim(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE precious (what TEXT)")
        db.execute("INSERT INTO precious VALUES ('the user''s real data')")


def precious_rows(path: Path) -> list:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT what FROM precious").fetchall()


def test_reset_refuses_a_database_without_this_runs_marker(tmp_path):
    victim = tmp_path / "production.db"
    make_victim(victim)
    previous = database.obj
    try:
        connect_database(f"sqlite:///{victim}")
        with pytest.raises(RuntimeError, match="refusing to reset"):
            reset_database()
    finally:
        database.initialize(previous)
    assert precious_rows(victim) == [("the user's real data",)]


def test_an_exported_database_url_is_not_what_the_tests_use(tmp_path):
    """A plain pytest run with CAMPAIGNER_DATABASE_URL exported, as the README's scale path says, leaves it alone."""
    victim = tmp_path / "exported.db"
    make_victim(victim)
    inner = tmp_path / "test_inner.py"
    inner.write_text(textwrap.dedent("""
        import os
        from campaigner.db import database

        def test_uses_its_own_database(app, logged_in_editor):
            assert "CAMPAIGNER_DATABASE_URL" not in os.environ
            assert "exported.db" not in str(database.obj.database)
            assert logged_in_editor.post("/api/v1/tags").status_code in (400, 401, 403, 302)
    """))
    env = {**os.environ, "CAMPAIGNER_DATABASE_URL": f"sqlite:///{victim}", "CAMPAIGNER_QUEUE_URL": "memory://",
           "CAMPAIGNER_SECRET_KEY": "a-secret-from-the-shell-0000"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
                             "--rootdir", str(tmp_path), str(inner)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert precious_rows(victim) == [("the user's real data",)]


def test_this_runs_databases_carry_the_marker(app):
    assert RUN_MARKER in os.path.basename(str(database.obj.database))
