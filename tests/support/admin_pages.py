"""Reading what the admin answered: the messages it showed."""
from __future__ import annotations

from typing import Any

from django.contrib.messages import get_messages


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]
