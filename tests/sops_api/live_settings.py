"""Settings for a real gunicorn started by a test: the project's, plus test-only URLs (live_urls.py)."""
from sops_api.settings import *  # noqa: F403

ROOT_URLCONF = "tests.sops_api.live_urls"
