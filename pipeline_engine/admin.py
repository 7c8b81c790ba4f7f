"""Read-mostly admin views of runs and node states, for operators debugging a run."""
from django.contrib import admin

from pipeline_engine.runtime.models import NodeHistory, NodeState, Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "display_state", "state", "started_at", "finished_at", "lease_until", "steps")
    list_filter = ("state", "display_state")
    search_fields = ("id",)
    readonly_fields = [f.name for f in Run._meta.fields]
    exclude = ("tree",)  # large; read it from the task instead


@admin.register(NodeState)
class NodeStateAdmin(admin.ModelAdmin):
    list_display = ("id", "node_type", "component_code", "state", "phase", "loop", "retry", "wake_at",
                    "lease_until", "deadline")
    list_filter = ("state", "node_type", "phase")
    search_fields = ("run__id", "node_id")
    readonly_fields = [f.name for f in NodeState._meta.fields]


@admin.register(NodeHistory)
class NodeHistoryAdmin(admin.ModelAdmin):
    list_display = ("run", "node_id", "loop", "retry", "skip", "state", "started_at", "finished_at")
    search_fields = ("run__id", "node_id")
    readonly_fields = [f.name for f in NodeHistory._meta.fields]
