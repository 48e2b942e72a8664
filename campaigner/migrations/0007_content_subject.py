"""Content gets a subject line (and per-channel ones, for the email variant), on items and their versions."""


def upgrade(db):
    import peewee
    from playhouse.migrate import SchemaMigrator, migrate

    migrator = SchemaMigrator.from_database(db)
    migrate(*(
        operation
        for table in ("content_item", "content_version")
        # `subjects` is JSON stored as text (campaigner.db.JSONField): existing rows get an empty object.
        for operation in (migrator.add_column(table, "subject", peewee.CharField(default="")),
                          migrator.add_column(table, "subjects", peewee.TextField(default="{}")))
    ))
