"""The schema of the first release (commit c3af5ff), frozen as SQL.

A migration has to build the same thing whenever it runs, so this one does not read the model
classes: they describe the newest schema, and what changed since the first release is built by the
migrations after this one. The statements are those peewee's ``create_tables`` issued for the first
release's models, generated once on each backend and pasted here. The backends' statements differ
only in five column types, named in braces and filled in from ``COLUMN_TYPES``.

``tests/test_migrations.py`` checks that this migration and the later ones together build the
schema the models declare.
"""

# How peewee spells these field types on each backend: AutoField, BooleanField, SmallIntegerField,
# DecimalField, DateTimeField.
COLUMN_TYPES = {
    "sqlite": {"serial": "INTEGER", "boolean": "INTEGER", "smallint": "INTEGER", "decimal": "DECIMAL",
               "timestamp": "DATETIME"},
    "postgres": {"serial": "SERIAL", "boolean": "BOOLEAN", "smallint": "SMALLINT", "decimal": "NUMERIC",
                 "timestamp": "TIMESTAMP"},
}

STATEMENTS = [
    'CREATE TABLE "user" ("id" {serial} NOT NULL PRIMARY KEY, "email" VARCHAR(255) NOT NULL, '
        '"name" VARCHAR(255) NOT NULL, "password_hash" VARCHAR(255) NOT NULL, "role" VARCHAR(255) NOT NULL, '
        '"locale" VARCHAR(255), "active" {boolean} NOT NULL, "created_at" {timestamp} NOT NULL, '
        '"last_login_at" {timestamp})',
    'CREATE UNIQUE INDEX "user_email" ON "user" ("email")',

    'CREATE TABLE "api_token" ("id" {serial} NOT NULL PRIMARY KEY, "user_id" INTEGER NOT NULL, '
        '"name" VARCHAR(255) NOT NULL, "token_hash" VARCHAR(255) NOT NULL, "prefix" VARCHAR(255) NOT NULL, '
        '"created_at" {timestamp} NOT NULL, "last_used_at" {timestamp}, "revoked_at" {timestamp}, '
        'FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "api_token_user_id" ON "api_token" ("user_id")',
    'CREATE UNIQUE INDEX "api_token_token_hash" ON "api_token" ("token_hash")',

    'CREATE TABLE "audit_log" ("id" {serial} NOT NULL PRIMARY KEY, "at" {timestamp} NOT NULL, '
        '"user_id" INTEGER, "action" VARCHAR(255) NOT NULL, "object_type" VARCHAR(255) NOT NULL, '
        '"object_id" VARCHAR(255), "summary" TEXT NOT NULL, "details" TEXT, '
        'FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "audit_log_at" ON "audit_log" ("at")',
    'CREATE INDEX "audit_log_user_id" ON "audit_log" ("user_id")',
    'CREATE INDEX "audit_log_object_type_object_id" ON "audit_log" ("object_type", "object_id")',

    'CREATE TABLE "segment" ("id" {serial} NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
        '"expression" TEXT NOT NULL, "channel" VARCHAR(255), "description" TEXT NOT NULL, "created_by_id" INTEGER, '
        '"created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "segment_name" ON "segment" ("name")',
    'CREATE INDEX "segment_created_by_id" ON "segment" ("created_by_id")',

    'CREATE TABLE "calendar" ("id" {serial} NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
        '"kind" VARCHAR(255) NOT NULL, "channel" VARCHAR(255) NOT NULL, "audience" TEXT NOT NULL, '
        '"segment_id" INTEGER, "groups" TEXT NOT NULL, "timezone" VARCHAR(255) NOT NULL, '
        '"min_gap_minutes" INTEGER NOT NULL, "feed_token" VARCHAR(255) NOT NULL, "settings" TEXT NOT NULL, '
        '"created_by_id" INTEGER, "created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("segment_id") REFERENCES "segment" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "calendar_segment_id" ON "calendar" ("segment_id")',
    'CREATE INDEX "calendar_created_by_id" ON "calendar" ("created_by_id")',

    'CREATE TABLE "content_item" ("id" {serial} NOT NULL PRIMARY KEY, "title" VARCHAR(255) NOT NULL, '
        '"slug" VARCHAR(255) NOT NULL, "kind" VARCHAR(255) NOT NULL, "body" TEXT NOT NULL, "tags" TEXT NOT NULL, '
        '"status" VARCHAR(255) NOT NULL, "variants" TEXT NOT NULL, "version" INTEGER NOT NULL, '
        '"created_by_id" INTEGER, "updated_by_id" INTEGER, "created_at" {timestamp} NOT NULL, '
        '"updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("updated_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "content_item_slug" ON "content_item" ("slug")',
    'CREATE INDEX "content_item_kind" ON "content_item" ("kind")',
    'CREATE INDEX "content_item_status" ON "content_item" ("status")',
    'CREATE INDEX "content_item_created_by_id" ON "content_item" ("created_by_id")',
    'CREATE INDEX "content_item_updated_by_id" ON "content_item" ("updated_by_id")',
    'CREATE INDEX "content_item_updated_at" ON "content_item" ("updated_at")',

    'CREATE TABLE "weekly_slot" ("id" {serial} NOT NULL PRIMARY KEY, "calendar_id" INTEGER NOT NULL, '
        '"weekday" {smallint} NOT NULL, "time" TIME NOT NULL, "theme" VARCHAR(255) NOT NULL, '
        '"content_kind" VARCHAR(255) NOT NULL, "content_id" INTEGER, "rotation_tag" VARCHAR(255), '
        '"created_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("calendar_id") REFERENCES "calendar" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "weekly_slot_calendar_id" ON "weekly_slot" ("calendar_id")',
    'CREATE INDEX "weekly_slot_content_id" ON "weekly_slot" ("content_id")',
    'CREATE INDEX "weekly_slot_calendar_id_weekday_time" ON "weekly_slot" ("calendar_id", "weekday", "time")',

    'CREATE TABLE "campaign" ("id" {serial} NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
        '"content_id" INTEGER NOT NULL, "channels" TEXT NOT NULL, "audience" TEXT NOT NULL, "segment_id" INTEGER, '
        '"send_at" {timestamp}, "timezone" VARCHAR(255), "cron" VARCHAR(255), "throttle_per_minute" INTEGER, '
        '"caps" TEXT, "quiet_hours" TEXT, "status" VARCHAR(255) NOT NULL, "status_reason" TEXT NOT NULL, '
        '"link_expiry_days" INTEGER, "origin" VARCHAR(255), "parent_id" INTEGER, "targeted" INTEGER, '
        '"consecutive_errors" INTEGER NOT NULL, "started_at" {timestamp}, "fanned_out_at" {timestamp}, '
        '"pumped_at" {timestamp}, "completed_at" {timestamp}, "created_by_id" INTEGER, '
        '"created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE RESTRICT, '
        'FOREIGN KEY ("segment_id") REFERENCES "segment" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("parent_id") REFERENCES "campaign" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "campaign_content_id" ON "campaign" ("content_id")',
    'CREATE INDEX "campaign_segment_id" ON "campaign" ("segment_id")',
    'CREATE INDEX "campaign_send_at" ON "campaign" ("send_at")',
    'CREATE INDEX "campaign_status" ON "campaign" ("status")',
    'CREATE INDEX "campaign_origin" ON "campaign" ("origin")',
    'CREATE INDEX "campaign_parent_id" ON "campaign" ("parent_id")',
    'CREATE INDEX "campaign_created_by_id" ON "campaign" ("created_by_id")',

    'CREATE TABLE "calendar_entry" ("id" {serial} NOT NULL PRIMARY KEY, "calendar_id" INTEGER NOT NULL, '
        '"slot_id" INTEGER, "slot_date" DATE, "content_id" INTEGER, "content_kind" VARCHAR(255) NOT NULL, '
        '"send_at" {timestamp} NOT NULL, "theme" VARCHAR(255) NOT NULL, "notes" TEXT NOT NULL, '
        '"status" VARCHAR(255) NOT NULL, "campaign_id" INTEGER, "created_by_id" INTEGER, '
        '"created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("calendar_id") REFERENCES "calendar" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("slot_id") REFERENCES "weekly_slot" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "calendar_entry_calendar_id" ON "calendar_entry" ("calendar_id")',
    'CREATE INDEX "calendar_entry_slot_id" ON "calendar_entry" ("slot_id")',
    'CREATE INDEX "calendar_entry_content_id" ON "calendar_entry" ("content_id")',
    'CREATE INDEX "calendar_entry_send_at" ON "calendar_entry" ("send_at")',
    'CREATE INDEX "calendar_entry_status" ON "calendar_entry" ("status")',
    'CREATE INDEX "calendar_entry_campaign_id" ON "calendar_entry" ("campaign_id")',
    'CREATE INDEX "calendar_entry_created_by_id" ON "calendar_entry" ("created_by_id")',
    'CREATE UNIQUE INDEX "calendar_entry_calendar_id_slot_id_slot_date"'
        ' ON "calendar_entry" ("calendar_id", "slot_id", "slot_date")',
    'CREATE INDEX "calendar_entry_calendar_id_send_at" ON "calendar_entry" ("calendar_id", "send_at")',

    'CREATE TABLE "channel_costs" ("channel" VARCHAR(255) NOT NULL PRIMARY KEY, '
        '"cost_per_message" {decimal}(12, 4) NOT NULL, "currency" VARCHAR(255) NOT NULL, '
        '"updated_at" {timestamp} NOT NULL)',

    'CREATE TABLE "contact" ("id" {serial} NOT NULL PRIMARY KEY, "external_id" VARCHAR(255), '
        '"name" VARCHAR(255) NOT NULL, "email" VARCHAR(255), "phone" VARCHAR(255), "chat_id" VARCHAR(255), '
        '"openid" VARCHAR(255), "timezone" VARCHAR(255), "attributes" TEXT NOT NULL, '
        '"created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL)',
    'CREATE UNIQUE INDEX "contact_external_id" ON "contact" ("external_id")',
    'CREATE INDEX "contact_email" ON "contact" ("email")',
    'CREATE INDEX "contact_phone" ON "contact" ("phone")',
    'CREATE INDEX "contact_chat_id" ON "contact" ("chat_id")',
    'CREATE INDEX "contact_openid" ON "contact" ("openid")',

    'CREATE TABLE "delivery" ("id" {serial} NOT NULL PRIMARY KEY, "source_type" VARCHAR(255) NOT NULL, '
        '"source_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, "channel" VARCHAR(255) NOT NULL, '
        '"status" VARCHAR(255) NOT NULL, "reason" VARCHAR(255) NOT NULL, "attempts" INTEGER NOT NULL, '
        '"idempotency_key" VARCHAR(255) NOT NULL, "provider_id" VARCHAR(255), "error" TEXT, '
        '"marketing" {boolean} NOT NULL, "send_after" {timestamp} NOT NULL, "lease_until" {timestamp}, '
        '"lease_token" VARCHAR(255), "created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        '"sent_at" {timestamp}, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE)',
    'CREATE UNIQUE INDEX "delivery_idempotency_key" ON "delivery" ("idempotency_key")',
    'CREATE UNIQUE INDEX "delivery_source_type_source_id_contact_id_channel"'
        ' ON "delivery" ("source_type", "source_id", "contact_id", "channel")',
    'CREATE INDEX "delivery_status_id" ON "delivery" ("status", "id")',
    'CREATE INDEX "delivery_source_type_source_id_status_id"'
        ' ON "delivery" ("source_type", "source_id", "status", "id")',
    'CREATE INDEX "delivery_contact_id_channel_sent_at" ON "delivery" ("contact_id", "channel", "sent_at")',

    'CREATE TABLE "short_links" ("id" {serial} NOT NULL PRIMARY KEY, "code" VARCHAR(255) NOT NULL, '
        '"target" TEXT NOT NULL, "kind" VARCHAR(255) NOT NULL, "label" VARCHAR(255) NOT NULL, '
        '"source_type" VARCHAR(255), "source_id" INTEGER, "delivery_id" INTEGER, "campaign_id" INTEGER, '
        '"contact_id" INTEGER, "content_id" INTEGER, "channel" VARCHAR(255) NOT NULL, '
        '"original_url" TEXT NOT NULL, "url_hash" VARCHAR(255), "expires_at" {timestamp}, "created_by_id" INTEGER, '
        '"created_at" {timestamp} NOT NULL, "updated_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("delivery_id") REFERENCES "delivery" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "short_links_code" ON "short_links" ("code")',
    'CREATE INDEX "short_links_delivery_id" ON "short_links" ("delivery_id")',
    'CREATE INDEX "short_links_campaign_id" ON "short_links" ("campaign_id")',
    'CREATE INDEX "short_links_contact_id" ON "short_links" ("contact_id")',
    'CREATE INDEX "short_links_content_id" ON "short_links" ("content_id")',
    'CREATE INDEX "short_links_created_by_id" ON "short_links" ("created_by_id")',
    'CREATE UNIQUE INDEX "short_links_delivery_id_url_hash" ON "short_links" ("delivery_id", "url_hash")',
    'CREATE INDEX "short_links_campaign_id_channel_kind" ON "short_links" ("campaign_id", "channel", "kind")',
    'CREATE INDEX "short_links_source_type_source_id" ON "short_links" ("source_type", "source_id")',
    'CREATE INDEX "short_links_kind_created_at" ON "short_links" ("kind", "created_at")',
    'CREATE UNIQUE INDEX "short_links_campaign_url"'
        ' ON "short_links" ("campaign_id", "channel", "url_hash")'
        """ WHERE ("kind" = 'campaign')""",

    'CREATE TABLE "clicks" ("id" {serial} NOT NULL PRIMARY KEY, "link_id" INTEGER NOT NULL, '
        '"at" {timestamp} NOT NULL, "contact_id" INTEGER, "visitor" VARCHAR(255) NOT NULL, '
        '"is_bot" {boolean} NOT NULL, "user_agent" VARCHAR(300) NOT NULL, "process_token" VARCHAR(255), '
        'FOREIGN KEY ("link_id") REFERENCES "short_links" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "clicks_link_id" ON "clicks" ("link_id")',
    'CREATE INDEX "clicks_contact_id" ON "clicks" ("contact_id")',
    'CREATE INDEX "clicks_link_id_visitor" ON "clicks" ("link_id", "visitor")',
    'CREATE INDEX "clicks_contact_id_at" ON "clicks" ("contact_id", "at")',
    'CREATE INDEX "clicks_at" ON "clicks" ("at")',
    'CREATE INDEX "clicks_process_token" ON "clicks" ("process_token")',

    'CREATE TABLE "contact_event" ("id" {serial} NOT NULL PRIMARY KEY, "contact_id" INTEGER NOT NULL, '
        '"at" {timestamp} NOT NULL, "kind" VARCHAR(255) NOT NULL, "summary" TEXT NOT NULL, "details" TEXT, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "contact_event_contact_id" ON "contact_event" ("contact_id")',
    'CREATE INDEX "contact_event_contact_id_at" ON "contact_event" ("contact_id", "at")',

    'CREATE TABLE "tag_group" ("id" {serial} NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
        '"description" TEXT NOT NULL)',
    'CREATE UNIQUE INDEX "tag_group_name" ON "tag_group" ("name")',

    'CREATE TABLE "tag" ("id" {serial} NOT NULL PRIMARY KEY, "group_id" INTEGER, "name" VARCHAR(255) NOT NULL, '
        '"key" VARCHAR(255) NOT NULL, "size" INTEGER NOT NULL, "description" TEXT NOT NULL, '
        'FOREIGN KEY ("group_id") REFERENCES "tag_group" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "tag_group_id" ON "tag" ("group_id")',
    'CREATE UNIQUE INDEX "tag_key" ON "tag" ("key")',

    'CREATE TABLE "contact_tag" ("tag_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, '
        '"added_at" {timestamp} NOT NULL, "source" VARCHAR(255) NOT NULL, PRIMARY KEY ("tag_id", "contact_id"), '
        'FOREIGN KEY ("tag_id") REFERENCES "tag" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "contact_tag_contact_id_tag_id" ON "contact_tag" ("contact_id", "tag_id")',

    'CREATE TABLE "content_version" ("id" {serial} NOT NULL PRIMARY KEY, "content_id" INTEGER NOT NULL, '
        '"number" INTEGER NOT NULL, "title" VARCHAR(255) NOT NULL, "kind" VARCHAR(255) NOT NULL, '
        '"body" TEXT NOT NULL, "tags" TEXT NOT NULL, "variants" TEXT NOT NULL, "saved_by_id" INTEGER, '
        '"saved_at" {timestamp} NOT NULL, "note" VARCHAR(255) NOT NULL, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("saved_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "content_version_content_id" ON "content_version" ("content_id")',
    'CREATE INDEX "content_version_saved_by_id" ON "content_version" ("saved_by_id")',
    'CREATE UNIQUE INDEX "content_version_content_id_number" ON "content_version" ("content_id", "number")',

    'CREATE TABLE "orders" ("id" {serial} NOT NULL PRIMARY KEY, "contact_id" INTEGER NOT NULL, '
        '"amount" {decimal}(14, 2) NOT NULL, "occurred_at" {timestamp} NOT NULL, "external_id" VARCHAR(255), '
        '"source" VARCHAR(255) NOT NULL, "created_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "orders_contact_id" ON "orders" ("contact_id")',
    'CREATE INDEX "orders_occurred_at" ON "orders" ("occurred_at")',
    'CREATE UNIQUE INDEX "orders_external_id" ON "orders" ("external_id")',
    'CREATE INDEX "orders_contact_id_occurred_at" ON "orders" ("contact_id", "occurred_at")',

    'CREATE TABLE "conversions" ("id" {serial} NOT NULL PRIMARY KEY, "order_id" INTEGER NOT NULL, '
        '"click_id" INTEGER NOT NULL, "link_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, '
        '"source_type" VARCHAR(255), "source_id" INTEGER, "campaign_id" INTEGER, "channel" VARCHAR(255) NOT NULL, '
        '"amount" {decimal}(14, 2) NOT NULL, "at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("order_id") REFERENCES "orders" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("click_id") REFERENCES "clicks" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("link_id") REFERENCES "short_links" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE, '
        'FOREIGN KEY ("campaign_id") REFERENCES "campaign" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "conversions_order_id" ON "conversions" ("order_id")',
    'CREATE INDEX "conversions_click_id" ON "conversions" ("click_id")',
    'CREATE INDEX "conversions_link_id" ON "conversions" ("link_id")',
    'CREATE INDEX "conversions_contact_id" ON "conversions" ("contact_id")',
    'CREATE INDEX "conversions_campaign_id" ON "conversions" ("campaign_id")',
    'CREATE INDEX "conversions_source_type_source_id" ON "conversions" ("source_type", "source_id")',
    'CREATE INDEX "conversions_at" ON "conversions" ("at")',

    'CREATE TABLE "delivery_event" ("id" {serial} NOT NULL PRIMARY KEY, "delivery_id" INTEGER NOT NULL, '
        '"at" {timestamp} NOT NULL, "status" VARCHAR(255) NOT NULL, "attempt" INTEGER NOT NULL, '
        '"error" TEXT NOT NULL, "details" TEXT, '
        'FOREIGN KEY ("delivery_id") REFERENCES "delivery" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "delivery_event_delivery_id" ON "delivery_event" ("delivery_id")',
    'CREATE INDEX "delivery_event_delivery_id_at" ON "delivery_event" ("delivery_id", "at")',

    'CREATE TABLE "import_job" ("id" {serial} NOT NULL PRIMARY KEY, "kind" VARCHAR(255) NOT NULL, '
        '"filename" VARCHAR(255) NOT NULL, "path" VARCHAR(255) NOT NULL, "encoding" VARCHAR(255) NOT NULL, '
        '"mapping" TEXT NOT NULL, "skip_bad_rows" {boolean} NOT NULL, "status" VARCHAR(255) NOT NULL, '
        '"total_rows" INTEGER NOT NULL, "created" INTEGER NOT NULL, "updated" INTEGER NOT NULL, '
        '"skipped" INTEGER NOT NULL, "errors" TEXT NOT NULL, "created_by_id" INTEGER, '
        '"created_at" {timestamp} NOT NULL, "finished_at" {timestamp}, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "import_job_created_by_id" ON "import_job" ("created_by_id")',

    'CREATE TABLE "kpi_goals" ("id" {serial} NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
        '"metric" VARCHAR(255) NOT NULL, "target" {decimal}(14, 4) NOT NULL, "period_start" DATE NOT NULL, '
        '"period_end" DATE NOT NULL, "created_by_id" INTEGER, "created_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("created_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE INDEX "kpi_goals_created_by_id" ON "kpi_goals" ("created_by_id")',

    'CREATE TABLE "media" ("id" {serial} NOT NULL PRIMARY KEY, "filename" VARCHAR(255) NOT NULL, '
        '"original_name" VARCHAR(255) NOT NULL, "mime" VARCHAR(255) NOT NULL, "size" INTEGER NOT NULL, '
        '"width" INTEGER NOT NULL, "height" INTEGER NOT NULL, "content_id" INTEGER, "uploaded_by_id" INTEGER, '
        '"uploaded_at" {timestamp} NOT NULL, '
        'FOREIGN KEY ("content_id") REFERENCES "content_item" ("id") ON DELETE SET NULL, '
        'FOREIGN KEY ("uploaded_by_id") REFERENCES "user" ("id") ON DELETE SET NULL)',
    'CREATE UNIQUE INDEX "media_filename" ON "media" ("filename")',
    'CREATE INDEX "media_content_id" ON "media" ("content_id")',
    'CREATE INDEX "media_uploaded_by_id" ON "media" ("uploaded_by_id")',

    'CREATE TABLE "opt_out" ("id" {serial} NOT NULL PRIMARY KEY, "contact_id" INTEGER NOT NULL, '
        '"channel" VARCHAR(255) NOT NULL, "at" {timestamp} NOT NULL, "source" VARCHAR(255) NOT NULL, '
        'FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE)',
    'CREATE INDEX "opt_out_contact_id" ON "opt_out" ("contact_id")',
    'CREATE UNIQUE INDEX "opt_out_contact_id_channel" ON "opt_out" ("contact_id", "channel")',
    'CREATE INDEX "opt_out_channel_contact_id" ON "opt_out" ("channel", "contact_id")',

    'CREATE TABLE "rate_window" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "window" {timestamp} NOT NULL, '
        '"used" INTEGER NOT NULL)',

    'CREATE TABLE "rfm_snapshots" ("id" {serial} NOT NULL PRIMARY KEY, "day" DATE NOT NULL, '
        '"segment" VARCHAR(255) NOT NULL, "size" INTEGER NOT NULL, "taken_at" {timestamp} NOT NULL)',
    'CREATE UNIQUE INDEX "rfm_snapshots_day_segment" ON "rfm_snapshots" ("day", "segment")',

    'CREATE TABLE "stored_setting" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT, '
        '"updated_at" {timestamp} NOT NULL)',
]


def upgrade(db):
    from campaigner.db import is_postgres

    types = COLUMN_TYPES["postgres" if is_postgres() else "sqlite"]
    for statement in STATEMENTS:
        db.execute_sql(statement.format(**types))
