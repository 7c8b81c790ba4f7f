"""Engine test setup: make sure components and conditions are importable.

The real registry and condition evaluator are written in parallel; until they
exist, tests run against local stand-ins (tests/pipeline_engine/stubs.py). The test
components are registered in this process as in the worker.
"""
from tests.pipeline_engine import components_for_tests  # noqa: F401 - registers test components (and stubs if needed)
