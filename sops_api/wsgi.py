"""The WSGI application gunicorn serves; it refuses to load with unsafe settings (sops_api/checks.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sops_api.settings")
application = get_wsgi_application()

from sops_api.checks import require_safe_deployment  # noqa: E402 - needs the settings loaded above

require_safe_deployment()

from sops_api.heap import freeze_startup_heap  # noqa: E402

freeze_startup_heap(load_urls=True)
