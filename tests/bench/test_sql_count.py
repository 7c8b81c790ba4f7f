"""bench/sql_count.py: a worker's statements are counted, however its connection was opened."""
from __future__ import annotations

import pytest
from django.db import connection

from bench import sql_count


@pytest.mark.django_db
def test_a_connection_opened_inside_another_wrappers_block_keeps_counting():
    """db_retry wraps each step in `execute_wrapper`; a worker's first step opens its connection
    inside that block, where connection_created installs the counter."""
    sql_count._tally.take()

    def outer(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    saved = list(connection.execute_wrappers)
    try:
        with connection.execute_wrapper(outer):
            sql_count._on_connection_created(sender=None, connection=connection)  # as when it opens here
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        with connection.cursor() as cursor:  # after the block: still counted
            cursor.execute("SELECT 1")
        assert outer not in connection.execute_wrappers
        assert sql_count._tally.take()[0] == 2
    finally:
        connection.execute_wrappers[:] = saved
