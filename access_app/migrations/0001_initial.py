"""Take over apps and tickets (from sops_api) and businesses with members (from templates_app).

State only: the tables keep their names (each model's `db_table`) and not a row
moves. The models' content types are relabelled, so admin history and
permissions granted on them follow the models.

Order of the move: this migration adds the models to access_app's state; the
migrations that point foreign keys at them (templates_app 0002, tasks_app 0003,
periodic_app 0003) run next; then templates_app 0003 and sops_api 0002 drop the
old models from their apps' state.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import access_app.models

# (old app label, model) of every model this migration takes over.
MOVED = [("sops_api", "app"), ("sops_api", "userticket"),
         ("templates_app", "business"), ("templates_app", "businessmember")]


def relabel_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old_label, model in MOVED:
        content_type.objects.using(schema_editor.connection.alias).filter(
            app_label=old_label, model=model).update(app_label="access_app")


def restore_content_types(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    for old_label, model in MOVED:
        content_type.objects.using(schema_editor.connection.alias).filter(
            app_label="access_app", model=model).update(app_label=old_label)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sops_api", "0001_initial"),
        ("templates_app", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="App",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("app_code", models.CharField(max_length=64, unique=True)),
                        ("name", models.CharField(blank=True, max_length=128)),
                        ("secret_hash", models.CharField(editable=False, max_length=256)),
                        ("enabled", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "sops_api_app", "ordering": ["app_code"]},
                ),
                migrations.CreateModel(
                    name="UserTicket",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("kind", models.CharField(choices=[("bk_token", "bk_token (login ticket)"),
                                                           ("access_token", "access_token")], max_length=16)),
                        ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                        ("hint", models.CharField(blank=True, editable=False,
                                                  help_text="First characters, to recognise a ticket",
                                                  max_length=12)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                   related_name="tickets", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={"db_table": "sops_api_userticket", "ordering": ["-created_at"]},
                ),
                migrations.CreateModel(
                    name="Business",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("bk_biz_id", models.BigIntegerField(unique=True)),
                        ("name", models.CharField(max_length=128)),
                        ("time_zone", models.CharField(default="Asia/Shanghai", max_length=64,
                                                       validators=[access_app.models.validate_time_zone])),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={"db_table": "templates_app_business", "ordering": ["bk_biz_id"],
                             "verbose_name_plural": "businesses"},
                ),
                migrations.CreateModel(
                    name="BusinessMember",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("role", models.CharField(choices=[("viewer", "viewer (read)"),
                                                           ("operator", "operator (create, start, operate tasks)"),
                                                           ("maintainer", "maintainer (also periodic tasks)")],
                                                  default="viewer", max_length=16)),
                        ("business", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                       related_name="members", to="access_app.business")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                   related_name="business_roles", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "templates_app_businessmember",
                        "constraints": [models.UniqueConstraint(fields=("business", "user"),
                                                                name="uniq_business_member")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, restore_content_types, elidable=False),
    ]
