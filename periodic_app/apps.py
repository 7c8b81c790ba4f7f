from django.apps import AppConfig


class PeriodicAppConfig(AppConfig):
    name = "periodic_app"
    verbose_name = "Periodic tasks"
