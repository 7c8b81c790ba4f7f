from django.apps import AppConfig


class SopsApiConfig(AppConfig):
    name = "sops_api"
    verbose_name = "API gateway"
