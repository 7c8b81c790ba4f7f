# Indexes no query uses, which each task INSERT and UPDATE paid for: the business key and the audit
# rows' task key lead composite indexes already; run_id's LIKE twin (db_index on a text column) goes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access_app', '0002_ticket_app'),
        ('tasks_app', '0006_merge_audit'),
        ('templates_app', '0005_merge_schemes_and_authoring'),
    ]

    operations = [
        migrations.AlterField(
            model_name='taskinstance',
            name='business',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='access_app.business'),
        ),
        migrations.AlterField(
            model_name='taskinstance',
            name='run_id',
            field=models.CharField(blank=True, default='', max_length=64),
        ),
        migrations.AlterField(
            model_name='taskoperation',
            name='task',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='operations', to='tasks_app.taskinstance'),
        ),
        migrations.AddIndex(
            model_name='taskinstance',
            index=models.Index(fields=['run_id'], name='task_run_id'),
        ),
    ]
