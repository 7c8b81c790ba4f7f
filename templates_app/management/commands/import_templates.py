"""Import templates from a JSON file: all of them or none."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from access_app.models import Business
from sops_common.commands import OperatorCommand
from sops_common.errors import NotFound
from templates_app.services import import_templates


class Command(OperatorCommand):
    help = ('Import {"name", "category", "pipeline_tree"} objects (one or a list) from FILE ("-" for stdin) '
            "into a business or as common templates; every tree is validated, and one invalid tree "
            "imports nothing.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--bk-biz-id", type=int)
        target.add_argument("--common", action="store_true", help="import as common templates")
        parser.add_argument("--creator", default="admin")

    def run(self, **options: Any) -> tuple[list, str]:
        items = self._load(options["file"])
        business = None
        if not options["common"]:
            business = Business.objects.filter(bk_biz_id=options["bk_biz_id"]).first()
            if business is None:
                raise NotFound(f"business[bk_biz_id={options['bk_biz_id']}] does not exist")
        created = import_templates(items=items, creator=options["creator"], business=business)
        data = [{"id": t.pk, "name": t.name} for t in created]
        # The listing is JSON in both modes: scripts read it, people can too.
        return data, json.dumps(data, ensure_ascii=False, indent=2)

    def _load(self, name: str) -> Any:
        import sys

        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {name}: {exc.strerror}") from exc
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CommandError(f"{name} is not valid JSON: {exc}") from exc
