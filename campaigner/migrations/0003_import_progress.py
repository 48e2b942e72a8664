"""Imports run on a worker: progress, heartbeat, claim and failure message on import_job."""


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("import_job", "processed_rows", peewee.IntegerField(default=0)),
        migrator.add_column("import_job", "heartbeat_at", peewee.DateTimeField(null=True)),
        migrator.add_column("import_job", "claim", peewee.CharField(default="")),
        migrator.add_column("import_job", "message", peewee.TextField(default="")),
    )
