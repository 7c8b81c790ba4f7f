"""Bind access_tokens to the app they were issued for (UserTicket.app); a bk_token never has an app.

Existing access_tokens are left unbound (app empty) rather than guessed onto
an app: the rows do not say which app their holder used. An unbound token
keeps working exactly as before, with any enabled app's app_code and
app_secret, and is refused alone (it cannot stand for an app). Operators bind
one in the admin (the app field of an unbound access_token is editable once)
or issue a new token with `issue_token --app-code`. `bootstrap_demo` binds the
demo's tokens on its next run.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access_app', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='userticket',
            name='app',
            field=models.ForeignKey(blank=True, help_text='The app an access_token was issued for (a bk_token has none)', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tickets', to='access_app.app'),
        ),
        migrations.AddConstraint(
            model_name='userticket',
            constraint=models.CheckConstraint(condition=models.Q(('kind', 'access_token'), ('app__isnull', True), _connector='OR'), name='bk_token_has_no_app'),
        ),
    ]
