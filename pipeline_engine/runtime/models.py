"""Tables of the engine: one Run row per pipeline run, one NodeState row per
node reached (re-entries and retries update it in place), NodeHistory rows
for earlier passes.

The Run row is the lock every writer takes (`SELECT ... FOR UPDATE`) and
holds the frontier and variable contexts, so a step reads and writes it once.
Node rows are written in bulk; the reaper's queries use the partial indexes.
"""
from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q


class StoredJSONField(models.JSONField):
    """A JSON document stored as the text it was written: PostgreSQL `json`, not `jsonb`.

    For a column written once and read back whole, never searched inside (the run's tree).
    jsonb parses the text into its binary form on every write and prints it again on every
    read: 7.3 ms and 2.4 ms for a 1,000-node tree (518 KB), against 4.6 ms and 0.7 ms as
    `json`, and 2.7 ms for the write once the column is lz4-compressed (migration 0003).
    Other databases store JSONField as text already.
    """

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg2 decodes `json` columns itself (Django has it leave only jsonb as text).
        if not isinstance(value, str):  # None, or the document psycopg2 decoded
            return value
        return super().from_db_value(value, expression, connection)


class Run(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    state = models.CharField(max_length=16)  # indexed by pe_run_state (see Meta)
    # What readers see (FAILED / NODE_SUSPENDED are derived), kept current by
    # every step so summaries need no node query.
    display_state = models.CharField(max_length=16)
    tree = StoredJSONField()
    context = models.JSONField(default=dict)
    frontier = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    meta = models.JSONField(default=dict)
    time_zone = models.CharField(max_length=64, default="UTC")
    executor = models.CharField(max_length=128, default="", blank=True)
    priority = models.IntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    # Set while an advance step is owed (tokens are ready); the reaper
    # re-enqueues the run when this passes.
    lease_until = models.DateTimeField(null=True)
    steps = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["lease_until"], name="pe_run_lease",
                         condition=Q(lease_until__isnull=False)),
            # Declared here, not by db_index, which on PostgreSQL adds a LIKE index no query uses
            # (migration 0005 drops the one Django made for the primary key as well).
            models.Index(fields=["state"], name="pe_run_state"),
        ]

    def __str__(self) -> str:
        return f"Run {self.id} {self.state}"


class NodeState(models.Model):
    # Looked up by (run, key); the unique index on them is the only full index
    # besides the integer primary key, which keeps bulk inserts cheap.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="nodes", db_constraint=False,
                            db_index=False)
    key = models.CharField(max_length=512)  # "<subprocess path>/<node id>"
    scope = models.CharField(max_length=512, default="", blank=True)
    node_id = models.CharField(max_length=64)
    node_type = models.CharField(max_length=32)
    component_code = models.CharField(max_length=128, default="", blank=True)
    name = models.CharField(max_length=256, default="", blank=True)
    state = models.CharField(max_length=16)
    version = models.CharField(max_length=32)
    loop = models.IntegerField(default=1)
    inner_loop = models.IntegerField(default=1)
    retry = models.IntegerField(default=0)
    skip = models.BooleanField(default=False)
    error_ignored = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    ex_data = models.TextField(null=True)  # noqa: DJ001 - the contract distinguishes None from ""
    inputs_override = models.JSONField(null=True)
    phase = models.CharField(max_length=16, default="", blank=True)
    schedule_count = models.IntegerField(default=0)
    comp_state = models.JSONField(default=dict)
    wake_at = models.DateTimeField(null=True)  # when the next execute/schedule is due
    lease_until = models.DateTimeField(null=True)  # a worker holds the work until then
    deadline = models.DateTimeField(null=True)  # timeout
    nudged_at = models.DateTimeField(null=True)  # last time the reaper re-sent the work
    callback_data = models.JSONField(null=True)
    callback_status = models.CharField(max_length=16, default="", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="pe_node_run_key")]
        indexes = [
            models.Index(fields=["wake_at"], name="pe_node_wake", condition=Q(wake_at__isnull=False)),
            models.Index(fields=["lease_until"], name="pe_node_lease", condition=Q(lease_until__isnull=False)),
            models.Index(fields=["deadline"], name="pe_node_deadline", condition=Q(deadline__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.state}"


class NodeHistory(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="histories", db_constraint=False,
                            db_index=False)
    key = models.CharField(max_length=512)
    node_id = models.CharField(max_length=64)
    version = models.CharField(max_length=32)
    loop = models.IntegerField(default=1)
    retry = models.IntegerField(default=0)
    skip = models.BooleanField(default=False)
    state = models.CharField(max_length=16)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    ex_data = models.TextField(null=True)  # noqa: DJ001 - the contract distinguishes None from ""
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["run", "key"], name="pe_hist_run_key")]

    def __str__(self) -> str:
        return f"{self.key} loop {self.loop} retry {self.retry}"


class NodeLog(models.Model):
    """What a component logged during one attempt of a node (run, key, version), bounded in size.

    `lines` holds `[ISO time, level, message]` items; `size` the characters of their messages,
    at most SOPS_NODE_LOG_MAX_CHARS (core/components/node_log.py); `truncated` says lines were
    dropped past it. Written by the step that records the attempt's calls, read by queries.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="logs", db_constraint=False,
                            db_index=False)
    key = models.CharField(max_length=512)
    node_id = models.CharField(max_length=64)
    version = models.CharField(max_length=32)
    lines = models.JSONField(default=list)
    size = models.IntegerField(default=0)
    truncated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key", "version"], name="pe_log_run_key_version")]
        indexes = [models.Index(fields=["run", "node_id"], name="pe_log_run_node")]

    def __str__(self) -> str:
        return f"log of {self.key} {self.version}"
