"""Inputs and outputs of get_user_project_list and get_user_project_detail (projects.py)."""
from __future__ import annotations

from rest_framework import serializers

from .base import Input
from .common_templates import flag, scope
from .fields import Boolean, Integer, List, String


class UserProjectListInput(Input):
    include_executor_proxy = flag("add executor_proxy: who executes for the caller (always the caller in sops)")


class UserProjectDetailInput(Input):
    include_executor_proxy = flag("add executor_proxy: who executes for the caller (always the caller in sops)")
    include_staff_groups = flag("add staff_groups (sops has none: [])")
    scope = scope()


class UserProject(serializers.Serializer):
    project_id = Integer(example=1, help_text="the business's project id (scope=project takes it)")
    bk_biz_id = Integer(example=2, help_text="the business id")
    name = String(example="blueking", help_text="the business's name")
    executor_proxy = String(required=False, example="admin", help_text="with include_executor_proxy")


class UserProjectDetail(serializers.Serializer):
    project_id = Integer(example=1, help_text="the business's project id (scope=project takes it)")
    project_name = String(example="blueking", help_text="the business's name")
    from_cmdb = Boolean(example=True, help_text="always true: every business is a CMDB business")
    bk_biz_id = Integer(example=2, help_text="the business id")
    bk_biz_name = String(example="blueking", help_text="the business's name")
    bk_biz_maintainer = String(example="admin", help_text="the maintainers' usernames, comma-separated")
    bk_biz_developer = String(example="olivia", help_text="the operators' usernames, comma-separated")
    bk_biz_tester = String(example="vera", help_text="the viewers' usernames, comma-separated")
    bk_biz_productor = String(example="", help_text='"": sops has no such role')
    time_zone = String(example="Asia/Shanghai", help_text="the zone the business's times render in")
    auth_actions = List(child=String(), example=["project_view", "project_fast_create_task"],
                        help_text="project_view (viewer), project_fast_create_task (operator), "
                                  "project_edit (maintainer): those the caller's role allows")
    executor_proxy = String(required=False, example="admin", help_text="with include_executor_proxy")
    staff_groups = List(required=False, child=String(), example=[], help_text="with include_staff_groups: []")
