"""The database connection: pooled on PostgreSQL, handed back after each request, really closed on demand."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from campaigner.db import close_all_connections, connect_database, database


@pytest.fixture
def postgres(backend):
    if backend["name"] != "postgres":
        pytest.skip("SQLite is not pooled (CAMPAIGNER_TEST_BACKEND=postgres runs these)")
    return backend


def server_process() -> int:
    """The PostgreSQL backend that serves this thread's connection, checked out and handed back."""
    with database.connection_context():
        return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def other_sessions(database_url: str) -> int:
    import psycopg2

    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        count = cur.fetchone()[0]
    conn.close()
    return count


def sessions(database_url: str) -> list:
    import psycopg2

    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pid, application_name, state, backend_start, state_change, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        rows = cur.fetchall()
    conn.close()
    return rows


def test_a_request_hands_its_connection_back_to_the_pool(postgres, app, client, api_token):
    headers = api_token("ops")
    before = server_process()
    for _ in range(3):
        assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert server_process() == before  # no new connection was opened, none was lost


def test_server_threads_share_the_pool_and_close_all_really_closes(postgres, app, live_server, api_token):
    headers = api_token("ops")
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{live_server}/api/v1/me", headers=headers,
                                                        timeout=30).status_code, range(40)))
    assert statuses == [200] * 40
    # A server thread hands its connection back in the request's teardown, which may still be
    # running after the client has read the response: close again until those have come back.
    deadline = time.monotonic() + 30
    while True:
        close_all_connections()
        left = other_sessions(postgres["database_url"])
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert left == 0, sessions(postgres["database_url"])


def test_with_every_pooled_connection_in_use_a_thread_waits_for_one(postgres, app):
    import concurrent.futures

    connect_database(postgres["database_url"], pool_size=1)
    database.connect()
    held = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    try:
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(server_process)
            with pytest.raises(concurrent.futures.TimeoutError):
                waiting.result(timeout=0.5)  # no second connection: it waits for this thread's
            database.close()
            assert waiting.result(timeout=30) == held
    finally:
        close_all_connections()
