"""Admin for templates and template versions (and the template count on the business page)."""
from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from django.utils.html import format_html

from access_app.admin import BusinessAdmin
from access_app.models import Business
from sops_common import limits
from sops_common.admin import ReadOnlyAdminMixin
from sops_common.errors import DomainError, InvalidInput

from . import schemes, services
from .models import Template, TemplateScheme, TemplateVersion


class BusinessWithTemplatesAdmin(BusinessAdmin):
    """access_app's business admin, plus how many templates each business has."""

    list_display = [*BusinessAdmin.list_display[:-1], "template_count", BusinessAdmin.list_display[-1]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Business]:
        return super().get_queryset(request).annotate(_templates=Count("templates", distinct=True))

    @admin.display(description="templates", ordering="_templates")
    def template_count(self, obj: Business) -> int:
        return obj._templates  # type: ignore[attr-defined]  # annotated by get_queryset


# Templates extend the business page from above: access_app does not know about templates.
admin.site.unregister(Business)
admin.site.register(Business, BusinessWithTemplatesAdmin)


class PrettyJSONField(forms.JSONField):
    """Shows the tree indented, so an operator can read and edit it; parses it within the API's JSON limits.

    Django's own field lets a RecursionError of the parser through (a server error); here text
    deeper than SOPS_MAX_JSON_DEPTH is refused with the API's message.
    """

    def _within_limits(self, value: Any) -> InvalidInput | None:
        if isinstance(value, str) and value.strip():
            try:
                limits.loads(value, "pipeline_tree")
            except InvalidInput as exc:
                return exc
            except ValueError:
                pass  # not JSON: Django's field says so its own way
        return None

    def to_python(self, value: Any) -> Any:
        refused = None if self.disabled else self._within_limits(value)
        if refused is not None:
            raise forms.ValidationError(refused.message, code="invalid")
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if not self.disabled and self._within_limits(data) is not None:
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


class TemplateForm(forms.ModelForm):
    pipeline_tree = PrettyJSONField(widget=forms.Textarea(attrs={"rows": 30, "cols": 120,
                                                                 "style": "font-family: monospace"}))

    class Meta:
        model = Template
        fields = ["name", "business", "category", "description", "creator", "pipeline_tree"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["creator"].required = False
        self.fields["creator"].help_text = "Defaults to you."
        self.fields["business"].required = False
        self.fields["business"].help_text = "Leave empty for a common template (every business may use it)."

    def clean_pipeline_tree(self) -> dict:
        tree = self.cleaned_data["pipeline_tree"]
        try:
            # `business` is cleaned first (field order): it says whose subprocess templates may be named.
            services.validate_template_tree(tree, self.cleaned_data.get("business"), self.instance.pk,
                                            self.cleaned_data.get("name"))
        except DomainError as exc:
            # The engine's message names the node and the rule broken.
            raise forms.ValidationError(exc.message) from exc
        return tree


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    readonly_fields = ("short_digest", "editor", "created_at", "node_count")
    fields = readonly_fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    @admin.display(description="digest")
    def short_digest(self, obj: TemplateVersion) -> str:
        return obj.digest[:12]

    @admin.display(description="activities")
    def node_count(self, obj: TemplateVersion) -> int:
        return len((obj.pipeline_tree or {}).get("activities") or {})

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeletedFilter(admin.SimpleListFilter):
    """Active templates by default: soft-deleted ones are history, not work."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("deleted", "deleted"), ("all", "all")]

    def choices(self, changelist: Any):
        value = self.value() or "active"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Template]) -> QuerySet[Template]:
        value = self.value() or "active"
        if value == "active":
            return queryset.filter(is_deleted=False)
        if value == "deleted":
            return queryset.filter(is_deleted=True)
        return queryset


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    list_display = ["id", "name", "source", "business", "category", "creator", "editor", "edit_time",
                    "short_version", "deleted_flag"]
    list_display_links = ["id", "name"]
    list_filter = [DeletedFilter, "source", "category", "business"]
    search_fields = ["name", "creator", "editor", "=id"]
    list_select_related = ["business"]
    readonly_fields = ["source", "version", "editor", "create_time", "edit_time", "is_deleted"]
    inlines = [TemplateVersionInline]
    actions = ["soft_delete", "restore"]
    date_hierarchy = "create_time"
    fieldsets = [
        (None, {"fields": ["name", "business", "category", "description", "creator"]}),
        ("Tree", {"fields": ["pipeline_tree"],
                  "description": "The web pipeline tree. It is validated by the engine on save; every save "
                                 "records a version."}),
        ("Record", {"fields": ["source", "version", "editor", "create_time", "edit_time", "is_deleted"]}),
    ]

    @admin.display(description="version")
    def short_version(self, obj: Template) -> str:
        return (obj.version or "")[:12]

    @admin.display(description="deleted", boolean=True, ordering="is_deleted")
    def deleted_flag(self, obj: Template) -> bool:
        return obj.is_deleted

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        # Hard deletes would orphan the tasks made from a template: soft delete instead.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Template, form: TemplateForm, change: bool) -> None:
        services.save_template_from_admin(template=obj, editor=request.user.get_username())

    @admin.action(description="Soft-delete selected templates")
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        count = services.set_templates_deleted(templates=queryset, deleted=True)
        self.message_user(request, f"{count} template(s) deleted (restore them with the 'Restore' action).",
                          messages.SUCCESS)

    @admin.action(description="Restore selected templates")
    def restore(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        count = services.set_templates_deleted(templates=queryset, deleted=False)
        self.message_user(request, f"{count} template(s) restored.", messages.SUCCESS)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: versions are history."""

    list_display = ["template", "short_digest", "editor", "created_at"]
    list_filter = ["created_at"]
    search_fields = ["template__name", "=template__id", "digest", "editor"]
    list_select_related = ["template"]
    readonly_fields = ["template", "digest", "editor", "created_at", "tree"]
    exclude = ["pipeline_tree"]

    @admin.display(description="digest")
    def short_digest(self, obj: TemplateVersion) -> str:
        return obj.digest[:12]

    @admin.display(description="pipeline tree")
    def tree(self, obj: TemplateVersion) -> str:
        return format_html("<pre style='max-height:40em;overflow:auto'>{}</pre>",
                           json.dumps(obj.pipeline_tree, indent=2, ensure_ascii=False))


class TemplateSchemeForm(forms.ModelForm):
    # The model's field is named `data`; the form metaclass takes the declared field out of the class.
    data = PrettyJSONField(widget=forms.Textarea(attrs={"rows": 6, "cols": 80, "style": "font-family: monospace"}),  # type: ignore[assignment]  # shadows BaseForm.data
                           help_text="the selected node ids of the template's tree, a JSON list")

    class Meta:
        model = TemplateScheme
        fields = ["template", "name", "data", "unique_id", "creator"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unique_id"].required = False
        self.fields["unique_id"].help_text = 'Left empty: "{template_id}-{name}".'
        self.fields["creator"].required = False

    def clean_data(self) -> list[str]:
        try:
            return schemes.parse_scheme_data(self.cleaned_data["data"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc


@admin.register(TemplateScheme)
class TemplateSchemeAdmin(admin.ModelAdmin):
    """Execution schemes: the node selections create_task's template_schemes_id names."""

    form = TemplateSchemeForm
    list_display = ["id", "name", "template", "unique_id", "node_count", "creator", "edit_time"]
    list_display_links = ["id", "name"]
    search_fields = ["name", "unique_id", "=template__id", "template__name"]
    list_select_related = ["template"]
    readonly_fields = ["create_time", "edit_time"]
    raw_id_fields = ["template"]

    @admin.display(description="nodes")
    def node_count(self, obj: TemplateScheme) -> int:
        return len(obj.data or [])

    def save_model(self, request: HttpRequest, obj: TemplateScheme, form: TemplateSchemeForm, change: bool) -> None:
        # The form checked the fields and the (template, name) constraint.
        schemes.save_scheme_from_admin(scheme=obj, editor=request.user.get_username())
