"""Imports keep people: warnings about kept rows, rows written so far, the strict option on import_job;
and each user's time zone (None: the instance's)."""


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("import_job", "warnings", peewee.TextField(default="[]")),
        migrator.add_column("import_job", "written_rows", peewee.IntegerField(default=0)),
        migrator.add_column("import_job", "strict", peewee.BooleanField(default=False)),
        migrator.add_column("user", "timezone", peewee.CharField(null=True)),
    )
