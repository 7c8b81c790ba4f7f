"""The engine's tables as stored: the run's tree is a JSON document written once and read whole."""
from __future__ import annotations

import pytest
from django.db import connection

from pipeline_engine import api
from pipeline_engine.runtime.models import Run
from tests.pipeline_engine.trees import linear

pytestmark = pytest.mark.django_db


def test_the_orm_reads_the_stored_tree_back_as_the_document_it_was():
    tree = linear(3)
    run_id = api.run_pipeline(tree)
    stored = Run.objects.get(pk=run_id).tree
    assert isinstance(stored, dict)
    assert stored["activities"] == tree["activities"] and stored["start_event"] == tree["start_event"]
    assert Run.objects.values_list("tree", flat=True).get(pk=run_id) == stored
    assert Run.objects.filter(pk=run_id, tree__isnull=True).count() == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL column type")
def test_on_postgresql_the_tree_is_json_text_compressed_with_lz4_where_the_server_has_it():
    with connection.cursor() as cursor:
        cursor.execute("SELECT atttypid::regtype::text, attcompression FROM pg_attribute "
                       "WHERE attrelid = 'pipeline_engine_run'::regclass AND attname = 'tree'")
        kind, compression = cursor.fetchone()
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        lz4 = bool((cursor.fetchone() or [False])[0])
        cursor.execute("SELECT atttypid::regtype::text FROM pg_attribute "
                       "WHERE attrelid = 'pipeline_engine_run'::regclass AND attname = 'context'")
        context_kind = cursor.fetchone()[0]
    assert kind == "json"  # not jsonb: never searched inside, so never parsed on write
    assert compression == ("l" if lz4 else "")
    assert context_kind == "jsonb"  # the other columns are unchanged
