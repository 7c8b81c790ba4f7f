"""Create a business (the scope of templates, tasks and roles)."""
from __future__ import annotations

from typing import Any

from access_app.services import create_business
from sops_common.commands import OperatorCommand


class Command(OperatorCommand):
    help = "Create a business with its CMDB id, name and time zone."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bk-biz-id", type=int, required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--time-zone", default="Asia/Shanghai", help="IANA zone (default Asia/Shanghai)")

    def run(self, **options: Any) -> tuple[dict, str]:
        business = create_business(bk_biz_id=options["bk_biz_id"], name=options["name"],
                                   time_zone=options["time_zone"])
        data = {"bk_biz_id": business.bk_biz_id, "name": business.name, "time_zone": business.time_zone}
        return data, f"business {business.bk_biz_id} {business.name} created ({business.time_zone})"
