"""A base for operator commands: `--json` output, one transaction, clear errors."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from pipeline_engine.api import connection_lost, describe_db_error

from .errors import DomainError


class OperatorCommand(BaseCommand):
    """Subclasses implement `run(**options)` returning (data, human text).

    The whole run is one transaction, so a command that fails half way leaves
    nothing behind; domain errors become CommandError (exit status 1, one line
    on stderr, no traceback), and so does a database that cannot be reached.
    """

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            if not connection_lost(exc):
                raise
            raise CommandError(f"database unavailable: {describe_db_error(exc)}") from exc

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="print the result as one JSON document")
        return parser

    def run(self, **options: Any) -> tuple[Any, str]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                data, text = self.run(**options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options.get("as_json"):
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            self.stdout.write(text)
