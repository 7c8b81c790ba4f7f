"""Periodic tasks point at access_app's Business (the same table: state only, nothing changes in the database)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("access_app", "0001_initial"),
        ("periodic_app", "0002_history_order"),
    ]
    # templates_app 0003 drops the old Business from the state: no foreign key may still name it then.
    run_before = [("templates_app", "0003_remove_business_state")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="periodictask",
                    name="business",
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                            related_name="periodic_tasks", to="access_app.business"),
                ),
            ],
            database_operations=[],
        ),
    ]
