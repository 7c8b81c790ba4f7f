"""Issue a bk_token or access_token for a user with a role in a business."""
from __future__ import annotations

from typing import Any

from access_app.models import Business, Role, UserTicket
from access_app.services import ensure_user, issue_ticket, set_member_role
from sops_common.commands import OperatorCommand
from sops_common.errors import NotFound


class Command(OperatorCommand):
    help = ("Create the user and its membership if needed, give it the role in the business, "
            "and print a new ticket (shown once; only its digest is stored).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--bk-biz-id", type=int, required=True)
        parser.add_argument("--role", choices=Role.values, required=True)
        parser.add_argument("--kind", choices=[UserTicket.BK_TOKEN, UserTicket.ACCESS_TOKEN],
                            default=UserTicket.ACCESS_TOKEN)
        parser.add_argument("--expires-in", type=int, default=None, metavar="SECONDS",
                            help="lifetime in seconds (default: 7 days for access_token, none for bk_token)")

    def run(self, **options: Any) -> tuple[dict, str]:
        business = Business.objects.filter(bk_biz_id=options["bk_biz_id"]).first()
        if business is None:
            raise NotFound(f"business[bk_biz_id={options['bk_biz_id']}] does not exist; "
                           "create it with create_business")
        user = ensure_user(username=options["username"])
        member = set_member_role(business=business, user=user, role=options["role"])
        ticket, token = issue_ticket(user=user, kind=options["kind"], expires_in=options["expires_in"])
        expires = ticket.expires_at.isoformat() if ticket.expires_at else None
        data = {"username": user.get_username(), "bk_biz_id": business.bk_biz_id, "role": member.role,
                "kind": ticket.kind, ticket.kind: token, "token": token, "expires_at": expires}
        text = (f"{ticket.kind} for {user.get_username()} ({member.role} of business {business.bk_biz_id})\n"
                f"  {ticket.kind}: {token}\n"
                f"  expires: {expires or 'never (revoke it in the admin)'}\n"
                "The token is shown only now; only its digest is stored.")
        return data, text
