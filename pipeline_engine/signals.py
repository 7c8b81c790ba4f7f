"""Signals the engine sends to the apps above it.

`run_finished(sender, run_id, state, meta)` is sent after the commit that made
a run FINISHED or REVOKED, or left it with a FAILED node and nothing else to
do (state "FAILED"; the run may still continue after a retry or skip).

`run_ending(sender, run_id, state, meta, finished_at)` is sent inside the transaction of a
worker's step that ends the run (the states run_finished names), before its writes. A receiver
may answer with one statement `(sql, params)` recording the end, which the engine sends with the
step's own writes (one round trip on PostgreSQL); when it changes a row, run_finished is sent
after the commit with `recorded=True`, and that receiver need not record it again.

`node_failed(sender, run_id, node_id, meta)` is sent after the commit that left a
node FAILED and waiting for an operator: once per failure (a node retried and
failing again is sent again); not for an error the node ignores
(error_ignorable) nor for a failure it will retry by itself (auto_retry).
"""
from django.dispatch import Signal

run_finished = Signal()
run_ending = Signal()
node_failed = Signal()
