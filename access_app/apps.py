from django.apps import AppConfig


class AccessAppConfig(AppConfig):
    name = "access_app"
    verbose_name = "Access: apps, tickets, businesses and roles"

    def ready(self) -> None:
        from . import cache

        cache.connect_invalidation()
