"""get_plugin_list, get_plugin_detail and get_plugin_base_info: the engine's registered components."""
from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from sops_api.apigw.envelope import ok
from sops_api.apigw.scope import ScopedBusinessMixin
from sops_api.apigw.serializers import plugins as io
from sops_api.apigw.views import ApigwView
from templates_app import plugins

TAGS = ["plugins"]
SOURCE = ("Answered from the engine's component registry: built-ins and every component registered through "
          "SOPS_COMPONENT_MODULES or an entry point (docs/components.md). Needs a role in the business.")


class PluginListView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["get"]
    input_serializer = io.PluginListInput
    output_serializer = io.Plugin(many=True)

    @extend_schema(summary="Every plugin version usable in the business", tags=TAGS, description=SOURCE)
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(plugins.list_plugins())


class PluginDetailView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["get"]
    input_serializer = io.PluginDetailInput
    output_serializer = io.Plugin

    @extend_schema(summary="One plugin version", tags=TAGS,
                   description=f"{SOURCE} Errors: `parameter code need to be provided.` (3540000), `can not "
                               "find suitable component with code: C and version: V` (3540400).")
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(plugins.plugin_detail(self.input["code"], self.input["version"]))


class PluginBaseInfoView(ScopedBusinessMixin, ApigwView):
    http_method_names = ["get"]
    input_serializer = io.PluginListInput
    output_serializer = io.PluginBaseInfo(many=True)

    @extend_schema(summary="Code and name of every plugin version", tags=TAGS, description=SOURCE)
    def get(self, request, bk_biz_id: str) -> JsonResponse:
        return ok(plugins.plugin_base_info())
