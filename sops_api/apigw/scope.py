"""`scope`: whether a path's business id is a CMDB business id (cmdb_biz, the default) or a project id.

The newer original reads `scope` from the query string of a GET and from the body of other
methods; params.py has merged both, so a view reads it from `self.params`.
"""
from __future__ import annotations

from functools import cached_property

from access_app.models import Business
from access_app.projects import get_business_in_scope

SCOPE_HELP = ("cmdb_biz (default): the path's id is the business id; project: it is the project id "
              "(project_id of get_user_project_list)")


class ScopedBusinessMixin:
    """An ApigwView whose business is looked up by the request's `scope`."""

    kwargs: dict
    params: dict
    business_kwarg: str | None

    @cached_property
    def business(self) -> Business:
        assert self.business_kwarg
        return get_business_in_scope(self.kwargs.get(self.business_kwarg), self.params.get("scope"))
