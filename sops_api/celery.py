"""The Celery application shared by the web process, workers and the scheduler."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sops_api.settings")

app = Celery("sops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
