"""Imports run on a worker: progress, heartbeat, claim and failure message on import_job."""


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    # 0001 creates tables from the current models, so a new database has these columns already.
    have = {column.name for column in db.get_columns("import_job")}
    wanted = {
        "processed_rows": peewee.IntegerField(default=0),
        "heartbeat_at": peewee.DateTimeField(null=True),
        "claim": peewee.CharField(default=""),
        "message": peewee.TextField(default=""),
    }
    migrator = SchemaMigrator.from_database(db)
    migrate(*(migrator.add_column("import_job", name, field) for name, field in wanted.items() if name not in have))
