"""PostgreSQL only: each contact's tag ids as one ``int[]`` row with a GIN index, kept by triggers.

Why: a three-tag audience over a million contacts needs tens of thousands of probes of the
(tag_id, contact_id) index on PostgreSQL (about 110 ms a query, measured in bench/audience.py),
while a GIN index over ``tag_ids`` intersects the tags' posting lists in one bitmap scan (about
20 ms). ``contact_tag`` stays the truth (when and from where each tag came); ``contact_tag_set``
is derived from it by statement-level triggers with transition tables, so every way tags change —
the services, bulk imports, RFM, cascades from deleted tags or contacts, even hand-written SQL —
keeps it right, one set-based statement per change.

The triggers merge into the row that is there rather than recount from ``contact_tag``: under READ
COMMITTED an UPDATE that waited for another transaction's lock re-reads that row, so two
transactions tagging one contact at the same time both land (a recount from either snapshot would
lose the other's tag).

SQLite has no array type or GIN index, and its join plan over the composite keys is already fast
(bench/audience.py), so there this migration does nothing.
"""

STATEMENTS = [
    """CREATE TABLE contact_tag_set (
        contact_id INTEGER PRIMARY KEY REFERENCES contact (id) ON DELETE CASCADE,
        tag_ids INTEGER[] NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX contact_tag_set_tag_ids ON contact_tag_set USING gin (tag_ids)",
    """CREATE FUNCTION contact_tag_set_add() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO contact_tag_set AS s (contact_id, tag_ids)
        SELECT contact_id, array_agg(DISTINCT tag_id) FROM added GROUP BY contact_id
        ON CONFLICT (contact_id) DO UPDATE
        SET tag_ids = ARRAY(SELECT DISTINCT t FROM unnest(s.tag_ids || EXCLUDED.tag_ids) AS t ORDER BY t);
        RETURN NULL;
    END $$""",
    """CREATE FUNCTION contact_tag_set_remove() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- An UPDATE only: a contact deleted with its tags has lost its row by cascade already.
        UPDATE contact_tag_set AS s
        SET tag_ids = ARRAY(SELECT t FROM unnest(s.tag_ids) AS t WHERE t <> ALL (r.tag_ids) ORDER BY t)
        FROM (SELECT contact_id, array_agg(tag_id) AS tag_ids FROM removed GROUP BY contact_id) AS r
        WHERE s.contact_id = r.contact_id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER contact_tag_set_after_insert AFTER INSERT ON contact_tag
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION contact_tag_set_add()""",
    """CREATE TRIGGER contact_tag_set_after_delete AFTER DELETE ON contact_tag
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION contact_tag_set_remove()""",
    # Nothing updates a tag assignment's keys today; if something does, drop the old pair, then add
    # the new (triggers of one event fire in name order, hence 1 and 2).
    """CREATE TRIGGER contact_tag_set_after_update_1 AFTER UPDATE ON contact_tag
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION contact_tag_set_remove()""",
    """CREATE TRIGGER contact_tag_set_after_update_2 AFTER UPDATE ON contact_tag
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION contact_tag_set_add()""",
    """INSERT INTO contact_tag_set (contact_id, tag_ids)
        SELECT contact_id, array_agg(tag_id ORDER BY tag_id) FROM contact_tag GROUP BY contact_id""",
]


def upgrade(db):
    from campaigner.db import is_postgres

    if not is_postgres():
        return
    for statement in STATEMENTS:
        db.execute_sql(statement)
