"""Admin for apps, user tickets, businesses and their members.

Raw secrets and tokens are shown exactly once, in the message after the save
or action that made them; the database keeps only hashes and digests.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from sops_common.errors import InvalidInput

from . import services
from .hashing import LEGACY, is_legacy
from .models import App, Business, BusinessMember, UserTicket


class AppForm(forms.ModelForm):
    new_secret = forms.CharField(
        required=False, strip=True,
        help_text="Leave empty to keep the current secret (a new app gets a generated one). "
                  "Only a hash is stored.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 60}),
    )

    class Meta:
        model = App
        fields = ["app_code", "name", "enabled"]


class SecretHashFilter(admin.SimpleListFilter):
    """Apps whose secret still has a hash of the old PBKDF2 format (each one slows every failed check)."""

    title = "secret hash"
    parameter_name = "secret_hash"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("keyed", "keyed digest"), ("legacy", "old PBKDF2 (upgraded at the next call)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[App]) -> QuerySet[App]:
        if self.value() == "legacy":
            return queryset.filter(secret_hash__startswith=f"{LEGACY}$")
        if self.value() == "keyed":
            return queryset.exclude(secret_hash__startswith=f"{LEGACY}$")
        return queryset


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppForm
    list_display = ["app_code", "name", "enabled", "secret_form", "created_at"]
    list_filter = ["enabled", SecretHashFilter, "created_at"]
    search_fields = ["app_code", "name"]
    readonly_fields = ["created_at"]
    actions = ["enable_apps", "disable_apps", "generate_new_secret"]

    @admin.display(description="secret hash")
    def secret_form(self, obj: App) -> str:
        if is_legacy(obj.secret_hash):
            return format_html('<span style="color:{}">{}</span>', "#a60", "old PBKDF2")
        return "keyed"

    def save_model(self, request: HttpRequest, obj: App, form: AppForm, change: bool) -> None:
        chosen = form.cleaned_data.get("new_secret") or None
        if change:
            obj.save()
            if chosen:
                services.reset_app_secret(app=obj, secret=chosen)
                self.message_user(request, f"app {obj.app_code}: secret changed.", messages.SUCCESS)
            return
        raw = chosen or services.generate_secret()
        obj.set_secret(raw)
        obj.save()
        if not chosen:
            self.message_user(
                request, f"app {obj.app_code} created. Its secret, shown only now: {raw}", messages.WARNING)

    @admin.action(description="Enable selected apps")
    def enable_apps(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        count = services.set_apps_enabled(apps=queryset, enabled=True)
        self.message_user(request, f"{count} app(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected apps (their calls are refused at once)")
    def disable_apps(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        count = services.set_apps_enabled(apps=queryset, enabled=False)
        self.message_user(request, f"{count} app(s) disabled.", messages.SUCCESS)

    @admin.action(description="Generate a new secret for selected apps (shown once)")
    def generate_new_secret(self, request: HttpRequest, queryset: QuerySet[App]) -> None:
        for app in queryset:
            raw = services.reset_app_secret(app=app)
            self.message_user(request, f"app {app.app_code}: new secret, shown only now: {raw}", messages.WARNING)


class TicketStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("usable", "usable"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UserTicket]) -> QuerySet[UserTicket]:
        now = timezone.now()
        if self.value() == "usable":
            return queryset.filter(revoked=False).exclude(expires_at__lte=now)
        if self.value() == "expired":
            return queryset.filter(revoked=False, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked=True)
        return queryset


class TicketForm(forms.ModelForm):
    class Meta:
        model = UserTicket
        fields = ["user", "kind", "app", "expires_at", "revoked"]

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        # Read-only fields are not in the form: the ticket's own values stand in for them.
        kind = data.get("kind", self.instance.kind)
        app = data["app"] if "app" in self.fields else self.instance.app
        if kind:
            try:
                services.check_ticket_app(kind, app)
            except InvalidInput as exc:
                raise ValidationError(exc.message) from exc
        return data


@admin.register(UserTicket)
class UserTicketAdmin(admin.ModelAdmin):
    form = TicketForm
    list_display = ["hint_display", "kind", "app_display", "user", "expires_at", "revoked", "state", "created_at"]
    # "app" lists each app and "empty": bk_tokens, and access_tokens issued before tokens were bound.
    list_filter = ["kind", "app", TicketStateFilter, "revoked", "expires_at", "created_at"]
    search_fields = ["user__username", "hint", "app__app_code"]
    list_select_related = ["user", "app"]
    autocomplete_fields = ["user", "app"]
    readonly_fields = ["hint", "created_at"]
    actions = ["revoke_tickets"]
    date_hierarchy = "created_at"

    @admin.display(description="hint", ordering="hint")
    def hint_display(self, obj: UserTicket) -> str:
        return f"{obj.hint}…"

    @admin.display(description="app", ordering="app__app_code")
    def app_display(self, obj: UserTicket) -> str:
        if obj.app is not None:
            return obj.app.app_code
        if obj.kind == UserTicket.ACCESS_TOKEN:
            return format_html('<span style="color:{}">{}</span>', "#a60", "unbound (needs app credentials)")
        return "any app"

    @admin.display(description="state")
    def state(self, obj: UserTicket) -> str:
        if obj.revoked:
            return format_html('<span style="color:{}">{}</span>', "#a00", "revoked")
        if obj.is_expired:
            return format_html('<span style="color:{}">{}</span>', "#a60", "expired")
        return "usable"

    def get_readonly_fields(self, request: HttpRequest, obj: UserTicket | None = None) -> list[str]:
        # A ticket's owner, kind and app are what it was issued as; change them by issuing another.
        # The one exception: an access_token issued before tokens were bound may be bound, once.
        if obj is None:
            return list(self.readonly_fields)
        if obj.kind == UserTicket.ACCESS_TOKEN and obj.app_id is None:
            return [*self.readonly_fields, "user", "kind"]
        return [*self.readonly_fields, "user", "kind", "app"]

    def save_model(self, request: HttpRequest, obj: UserTicket, form: TicketForm, change: bool) -> None:
        if change:
            obj.save()
            if "app" in form.changed_data and obj.app is not None:
                self.message_user(request, f"access_token {obj.hint}… bound to app {obj.app}.", messages.SUCCESS)
            return
        ticket, raw = services.issue_ticket(user=obj.user, kind=obj.kind, app=obj.app)
        # The form's expiry (possibly empty) wins over the kind's default.
        ticket.expires_at = obj.expires_at
        ticket.revoked = obj.revoked
        ticket.save(update_fields=["expires_at", "revoked"])
        obj.pk = ticket.pk
        obj.refresh_from_db()
        self.message_user(request, f"{ticket.kind} for {ticket.user}, shown only now: {raw}", messages.WARNING)

    @admin.action(description="Revoke selected tickets")
    def revoke_tickets(self, request: HttpRequest, queryset: QuerySet[UserTicket]) -> None:
        count = services.revoke_tickets(tickets=queryset)
        self.message_user(request, f"{count} ticket(s) revoked.", messages.SUCCESS)


class BusinessMemberInline(admin.TabularInline):
    model = BusinessMember
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    list_display = ["bk_biz_id", "name", "time_zone", "member_count", "created_at"]
    search_fields = ["name", "=bk_biz_id"]
    list_filter = ["time_zone"]
    readonly_fields = ["created_at"]
    inlines = [BusinessMemberInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Business]:
        return super().get_queryset(request).annotate(_members=Count("members", distinct=True))

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj: Business) -> int:
        return obj._members  # type: ignore[attr-defined]  # annotated by get_queryset


@admin.register(BusinessMember)
class BusinessMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "business", "role"]
    list_filter = ["role", "business"]
    search_fields = ["user__username", "business__name", "=business__bk_biz_id"]
    list_select_related = ["user", "business"]
    autocomplete_fields = ["user", "business"]
