"""The run's tree becomes PostgreSQL `json`, lz4-compressed where the server can (runtime/models.py,
StoredJSONField, says why). Elsewhere JSONField is text already: nothing changes on disk, so the
state change is not run as an AlterField, which would rebuild SQLite's table for nothing."""
from django.db import migrations

import pipeline_engine.runtime.models

TABLE = "pipeline_engine_run"


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    schema_editor.execute(f'ALTER TABLE {TABLE} ALTER COLUMN "tree" TYPE json USING "tree"::json')
    if connection.pg_version < 140000:
        return  # column compression needs PostgreSQL 14; pglz stays
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
                       "AND 'lz4' = ANY(enumvals)")
        lz4 = cursor.fetchone() is not None
    if lz4:  # a server built without lz4 keeps pglz
        schema_editor.execute(f'ALTER TABLE {TABLE} ALTER COLUMN "tree" SET COMPRESSION lz4')


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE {TABLE} ALTER COLUMN "tree" TYPE jsonb USING "tree"::jsonb')


class Migration(migrations.Migration):

    dependencies = [
        ("pipeline_engine", "0002_node_log"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="run",
                    name="tree",
                    field=pipeline_engine.runtime.models.StoredJSONField(),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
