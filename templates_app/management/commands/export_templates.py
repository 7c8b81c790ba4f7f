"""Export templates as JSON that import_templates reads back (trees and execution schemes)."""
from __future__ import annotations

import json
from typing import Any

from sops_common.commands import OperatorCommand
from templates_app.selectors import export_templates


class Command(OperatorCommand):
    help = ("Print templates as a JSON list of {name, category, description, pipeline_tree, schemes}, the "
            "format import_templates reads.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("template_ids", nargs="+", type=int)

    def run(self, **options: Any) -> tuple[list, str]:
        data = export_templates(options["template_ids"])
        return data, json.dumps(data, ensure_ascii=False, indent=2)
