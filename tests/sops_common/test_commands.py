"""The operator command base: --json output, one transaction, domain errors as one-line CommandErrors."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from access_app.models import Business
from sops_common.commands import OperatorCommand
from sops_common.errors import InvalidInput

pytestmark = pytest.mark.django_db


class CreateThenMaybeFail(OperatorCommand):
    def add_arguments(self, parser):
        parser.add_argument("--fail", action="store_true")

    def run(self, **options):
        Business.objects.create(bk_biz_id=77, name="half")
        if options["fail"]:
            raise InvalidInput("business 77 cannot be made")
        return {"bk_biz_id": 77}, "business 77 made"


def run(*args):
    out = io.StringIO()
    call_command(CreateThenMaybeFail(), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_text_and_json_output():
    assert run().strip() == "business 77 made"
    Business.objects.all().delete()
    assert json.loads(run("--json")) == {"bk_biz_id": 77}


def test_a_domain_error_is_one_line_and_leaves_nothing():
    with pytest.raises(CommandError, match="^business 77 cannot be made$"):
        run("--fail")
    assert not Business.objects.filter(bk_biz_id=77).exists()
