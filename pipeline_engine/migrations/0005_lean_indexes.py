"""Indexes no query uses, which every run's INSERT and UPDATE paid for.

On PostgreSQL Django gives each indexed text column, and a text primary key, a second index with
varchar_pattern_ops, for LIKE: the run's id and its state had one each, and nothing searches
either with LIKE. The state's index is now declared in Meta (no LIKE twin); the primary key's
twin cannot be turned off by a field option, so it is dropped here, looked up by its definition
rather than by the name Django derived for it."""
from django.db import migrations, models

TABLE = "pipeline_engine_run"


def drop_like_index_of_the_key(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexdef LIKE %s", [TABLE, "%(id varchar_pattern_ops)"])
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def restore_like_index_of_the_key(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS pipeline_engine_run_id_like "
                              f"ON {TABLE} (id varchar_pattern_ops)")


class Migration(migrations.Migration):

    dependencies = [
        ("pipeline_engine", "0004_expect_one_row"),
    ]

    operations = [
        migrations.AlterField(
            model_name="run",
            name="state",
            field=models.CharField(max_length=16),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["state"], name="pe_run_state"),
        ),
        migrations.RunPython(drop_like_index_of_the_key, restore_like_index_of_the_key),
    ]
