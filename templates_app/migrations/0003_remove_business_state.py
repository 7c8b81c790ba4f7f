"""Business and BusinessMember now belong to access_app: drop them from this app's state.

State only: their tables are access_app's now (access_app 0001). Every migration
that pointed a foreign key at them runs first (`run_before` in tasks_app 0003 and
periodic_app 0003).
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("templates_app", "0002_business_moved_to_access_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="BusinessMember"),
                migrations.DeleteModel(name="Business"),
            ],
            database_operations=[],
        ),
    ]
