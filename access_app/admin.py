"""Admin for apps, user tickets, businesses and their members.

Raw secrets and tokens are shown exactly once, in the message after the save
or action that made them; the database keeps only hashes and digests.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from . import services
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


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    form = AppForm
    list_display = ["app_code", "name", "enabled", "created_at"]
    list_filter = ["enabled", "created_at"]
    search_fields = ["app_code", "name"]
    readonly_fields = ["created_at"]
    actions = ["enable_apps", "disable_apps", "generate_new_secret"]

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
        fields = ["user", "kind", "expires_at", "revoked"]


@admin.register(UserTicket)
class UserTicketAdmin(admin.ModelAdmin):
    form = TicketForm
    list_display = ["hint_display", "kind", "user", "expires_at", "revoked", "state", "created_at"]
    list_filter = ["kind", TicketStateFilter, "revoked", "expires_at", "created_at"]
    search_fields = ["user__username", "hint"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    readonly_fields = ["hint", "created_at"]
    actions = ["revoke_tickets"]
    date_hierarchy = "created_at"

    @admin.display(description="hint", ordering="hint")
    def hint_display(self, obj: UserTicket) -> str:
        return f"{obj.hint}…"

    @admin.display(description="state")
    def state(self, obj: UserTicket) -> str:
        if obj.revoked:
            return format_html('<span style="color:{}">{}</span>', "#a00", "revoked")
        if obj.is_expired:
            return format_html('<span style="color:{}">{}</span>', "#a60", "expired")
        return "usable"

    def get_readonly_fields(self, request: HttpRequest, obj: UserTicket | None = None) -> list[str]:
        # A ticket's owner and kind are what it was issued as; change them by issuing another.
        return [*self.readonly_fields, "user", "kind"] if obj else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: UserTicket, form: TicketForm, change: bool) -> None:
        if change:
            obj.save()
            return
        ticket, raw = services.issue_ticket(user=obj.user, kind=obj.kind)
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
