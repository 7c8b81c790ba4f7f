"""The typed layer: one resource per kind of thing the gateway manages, on top of `client.api`."""
from .counts import Counts
from .nodes import Nodes
from .periodic_tasks import PeriodicTasks
from .tasks import Tasks
from .templates import Templates

__all__ = ["Counts", "Nodes", "PeriodicTasks", "Tasks", "Templates"]
