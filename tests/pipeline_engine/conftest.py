"""Engine test setup: the test components are registered in this process, as in the test worker."""
from tests.pipeline_engine import components_for_tests  # noqa: F401 - registers the test components
