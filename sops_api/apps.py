from django.apps import AppConfig


class SopsApiConfig(AppConfig):
    name = "sops_api"
    verbose_name = "API gateway: apps and user tickets"

    def ready(self) -> None:
        from sops_api import checks  # noqa: F401 - registers the deployment checks
        from sops_api.apigw import auth_cache

        auth_cache.connect_invalidation()
