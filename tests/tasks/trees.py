"""The task trees for test_tree_prep.py, which stays here until arch-engine's branch moves it.

TODO(arch-engine): drop this re-export when test_tree_prep.py moves to tests/pipeline_engine/.
"""
from tests.support.task_trees import *  # noqa: F403
