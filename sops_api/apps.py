from django.apps import AppConfig


class SopsApiConfig(AppConfig):
    name = "sops_api"
    verbose_name = "API gateway"

    def ready(self) -> None:
        from sops_api import checks  # noqa: F401 - registers the deployment checks
