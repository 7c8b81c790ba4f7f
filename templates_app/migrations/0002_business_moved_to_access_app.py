"""Templates point at access_app's Business (the same table: state only, nothing changes in the database)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("access_app", "0001_initial"),
        ("templates_app", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="template",
                    name="business",
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                            related_name="templates", to="access_app.business"),
                ),
            ],
            database_operations=[],
        ),
    ]
