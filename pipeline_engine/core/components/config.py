"""The few settings components read (the source and the overrides live in core/settings.py)."""
from __future__ import annotations

from pipeline_engine.core import egress
from pipeline_engine.core.settings import Source, override, setting, use_source

__all__ = ["Source", "egress_policy", "override", "setting", "use_source"]


def egress_policy() -> egress.EgressPolicy:
    """The egress policy of SOPS_HTTP_ALLOWLIST (rules: core/egress.py); no entries without a source.

    The one policy every outbound request made for a user goes through: the
    http component and the task callback_url alike.
    """
    return egress.EgressPolicy.from_entries(setting(egress.SETTING, []) or [])
