"""Sessions that can be revoked: a row per signed-in browser, and one-time passwords that must be replaced."""


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    from campaigner.db import is_postgres

    timestamp = "TIMESTAMP" if is_postgres() else "DATETIME"
    db.execute_sql(
        'CREATE TABLE "user_session" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, '
        f'"created_at" {timestamp} NOT NULL, "last_seen_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)')
    db.execute_sql('CREATE INDEX "user_session_user_id" ON "user_session" ("user_id")')
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("user", "must_change_password", peewee.BooleanField(default=False)))
