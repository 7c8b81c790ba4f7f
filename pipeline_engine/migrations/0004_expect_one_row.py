"""The SQL function behind Writes.update_if_unchanged (runtime/prepared.py): it fails its statement,
with SQLSTATE SP409, when the guarded UPDATE changed no row, and so rolls back every statement of
the query it is sent in. PostgreSQL only: elsewhere writes are never sent as one query."""
from django.db import migrations

FUNCTION = "sops_expect_one_row"


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE OR REPLACE FUNCTION {FUNCTION}(changed integer) RETURNS void LANGUAGE plpgsql AS $$ "
        "BEGIN IF changed IS DISTINCT FROM 1 THEN "
        "RAISE EXCEPTION 'the row changed since it was read' USING ERRCODE = 'SP409'; "
        "END IF; END $$")


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201 (migration signature)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(integer)")


class Migration(migrations.Migration):
    dependencies = [("pipeline_engine", "0003_run_tree_json")]
    operations = [migrations.RunPython(forwards, backwards)]
