"""App and UserTicket now belong to access_app (access_app 0001): drop them from this app's state.

State only: the tables stay, under access_app's models.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("access_app", "0001_initial"),
        ("sops_api", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="UserTicket"),
                migrations.DeleteModel(name="App"),
            ],
            database_operations=[],
        ),
    ]
