"""Signals the engine sends to the apps above it.

`run_finished(sender, run_id, state, meta)` is sent after the commit that made
a run FINISHED or REVOKED, or left it with a FAILED node and nothing else to
do (state "FAILED"; the run may still continue after a retry or skip).
"""
from django.dispatch import Signal

run_finished = Signal()
