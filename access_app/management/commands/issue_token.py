"""Issue a bk_token, or an access_token bound to an app, for a user with a role in a business."""
from __future__ import annotations

from typing import Any

from access_app.models import App, Business, Role, UserTicket
from access_app.services import ensure_user, issue_ticket, set_member_role
from sops_common.commands import OperatorCommand
from sops_common.errors import InvalidInput, NotFound


class Command(OperatorCommand):
    help = ("Create the user and its membership if needed, give it the role in the business, "
            "and print a new ticket (shown once; only its digest is stored).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--bk-biz-id", type=int, required=True)
        parser.add_argument("--role", choices=Role.values, required=True)
        parser.add_argument("--kind", choices=[UserTicket.BK_TOKEN, UserTicket.ACCESS_TOKEN],
                            default=UserTicket.ACCESS_TOKEN)
        parser.add_argument("--app-code", default=None,
                            help="the app an access_token is issued for (required for access_token; it then "
                                 "works alone or with that app's credentials); a bk_token takes none")
        parser.add_argument("--expires-in", type=int, default=None, metavar="SECONDS",
                            help="lifetime in seconds (default: 7 days for access_token, none for bk_token)")

    def run(self, **options: Any) -> tuple[dict, str]:
        business = Business.objects.filter(bk_biz_id=options["bk_biz_id"]).first()
        if business is None:
            raise NotFound(f"business[bk_biz_id={options['bk_biz_id']}] does not exist; "
                           "create it with create_business")
        app = None
        if options["app_code"]:
            app = App.objects.filter(app_code=options["app_code"]).first()
            if app is None:
                raise NotFound(f"app[{options['app_code']}] does not exist; create it with create_app")
        elif options["kind"] == UserTicket.ACCESS_TOKEN:
            raise InvalidInput("an access_token is issued for an app: pass --app-code (or --kind bk_token)")
        user = ensure_user(username=options["username"])
        member = set_member_role(business=business, user=user, role=options["role"])
        ticket, token = issue_ticket(user=user, kind=options["kind"], app=app, expires_in=options["expires_in"])
        expires = ticket.expires_at.isoformat() if ticket.expires_at else None
        app_code = app.app_code if app else None
        data = {"username": user.get_username(), "bk_biz_id": business.bk_biz_id, "role": member.role,
                "kind": ticket.kind, ticket.kind: token, "token": token, "app_code": app_code,
                "expires_at": expires}
        where = (f"{app_code} (send the token alone, or with this app's credentials)" if app_code
                 else "none (send it with any enabled app's app_code and app_secret)")
        text = "\n".join([
            f"{ticket.kind} for {user.get_username()} ({member.role} of business {business.bk_biz_id})",
            f"  {ticket.kind}: {token}",
            f"  app:     {where}",
            f"  expires: {expires or 'never (revoke it in the admin)'}",
            "The token is shown only now; only its digest is stored.",
        ])
        return data, text
