"""Built-in components; importing this package registers them all."""
from pipeline_engine.core.components.builtins import (  # noqa: F401
    http_request,
    job_script,
    noop,
    pause_node,
    sleep_timer,
    var_assign,
)
