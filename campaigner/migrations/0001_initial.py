"""The first schema: every model that shipped with the first release."""


def upgrade(db):
    from campaigner.models import ALL_MODELS

    db.create_tables(ALL_MODELS)
