from django.apps import AppConfig


class ClockedAppConfig(AppConfig):
    name = "clocked_app"
    verbose_name = "Clocked tasks"
