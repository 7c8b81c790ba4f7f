"""client.templates: business and common templates."""
from __future__ import annotations

from ..models import Template, TemplateSummary
from ._base import Resource, params


class Templates(Resource):
    def list(self, *, bk_biz_id: int | str, template_source: str | None = None) -> list[TemplateSummary]:
        """The business's templates (template_source="common" for the common ones)."""
        data = self._call("get_template_list", params(template_source=template_source), {"bk_biz_id": bk_biz_id})
        return [TemplateSummary.from_data(item) for item in data]

    def get(self, *, template_id: int | str, bk_biz_id: int | str, template_source: str | None = None) -> Template:
        data = self._call("get_template_info", params(template_source=template_source),
                          {"template_id": template_id, "bk_biz_id": bk_biz_id})
        return Template.from_data(data)
