from django.apps import AppConfig


class StaticshipConfig(AppConfig):
    name = "staticship"
    verbose_name = "staticship"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
