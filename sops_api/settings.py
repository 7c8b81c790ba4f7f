"""Settings, all from the environment.

Defaults give the embedded mode a newcomer starts with `make run`: SQLite under
var/ and kombu's filesystem transport as the broker, so no server is needed.
Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SOPS_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "dev-insecure-secret-key-change-me")
# Old keys still accepted while a rotation completes; app secrets hashed under one are re-hashed on use.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "sops_api",
    "pipeline_engine",
    "access_app",
    "templates_app",
    "tasks_app",
    "periodic_app",
    "pages_app",
]

MIDDLEWARE = [
    "sops_api.logs.RequestContextMiddleware",
    "sops_api.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and Swagger UI's static files from gunicorn itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sops_api.urls"
WSGI_APPLICATION = "sops_api.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'sops.sqlite3'}")
# Every process (web workers, Celery pool processes and their threads, the scheduler,
# operator commands) keeps its connection for 60 s, and checks it before reusing it
# (one `SELECT 1` per request, task or tick): a database restart closes every kept
# connection, and the first use of a dead one would fail. What still fails (a
# connection lost between the check and the statement) is retried once if nothing
# had changed: pipeline_engine/runtime/db_retry.py.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Without it a connect to an unreachable host (not a refused port) waits for the OS's TCP
    # timeout, minutes; a request would hang instead of answering "service unavailable".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a generous busy timeout let the web server, the worker and the
    # scheduler share one SQLite file in the embedded mode.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The operator pages (pages_app) log in with the same accounts and session as the admin.
LOGIN_URL = "pages:login"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
# Without `collectstatic` (make run), files are found in the apps; the Docker
# image runs collectstatic and serves the compressed, cache-busted copies.
WHITENOISE_USE_FINDERS = True
try:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
except OSError:
    pass
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Celery ---------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # Without this kombu writes its broadcast exchanges to ./control in the CWD.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# One queue name per deployment: two deployments (or test runs) sharing a
# Redis database must not take each other's messages.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SOPS_CELERY_QUEUE", "celery")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Late acknowledgement: a message whose worker dies is redelivered, and every
# engine message is fenced, so a redelivery is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework / OpenAPI ---------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "sops APIGW",
    "DESCRIPTION": "Workflow orchestration API compatible with the BlueKing Standard OPS gateway.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the pinned drf-spectacular-sidecar package,
    # not a CDN: the docs page works offline and behind firewalls.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "sops_api.apigw.schema.add_security_schemes",
    ],
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "tryItOutEnabled": True},
}

# --- sops ----------------------------------------------------------------
SOPS_APP_HOST = os.environ.get("SOPS_APP_HOST", "http://127.0.0.1:8000/")
# Outbound HTTP (bk_http_request, task callback_url) may only reach these
# hosts; "*" allows any. Empty means no outbound HTTP at all.
SOPS_HTTP_ALLOWLIST = env_list("SOPS_HTTP_ALLOWLIST", "127.0.0.1,localhost")
# How long a process may remember identity lookups (app, ticket, business,
# role); see access_app/cache.py. 0 turns it off.
SOPS_AUTH_CACHE_SECONDS = float(os.environ.get("SOPS_AUTH_CACHE_SECONDS", "2"))
# The built-in script executor runs scripts on the worker host; off unless an
# operator turns it on.
SOPS_SCRIPT_EXECUTION_ENABLED = env_bool("SOPS_SCRIPT_EXECUTION_ENABLED", False)
# Extra component modules to import at start (users' plugins).
SOPS_COMPONENT_MODULES = env_list("SOPS_COMPONENT_MODULES", "")
# How long a run may go without progress before the reaper re-enqueues it.
SOPS_REAPER_LEASE_SECONDS = int(os.environ.get("SOPS_REAPER_LEASE_SECONDS", "30"))
SOPS_NODE_RERUN_LIMIT = int(os.environ.get("SOPS_NODE_RERUN_LIMIT", "100"))
# The engine's sweep (due timers, timeouts, lost work) runs this often; each
# Celery worker's main process runs it in a thread unless turned off (then run
# `python -m pipeline_engine.runtime.reaper` or the task pipeline_engine.sweep).
SOPS_REAPER_INTERVAL_SECONDS = float(os.environ.get("SOPS_REAPER_INTERVAL_SECONDS", "1"))
SOPS_ENGINE_SWEEP_IN_WORKER = env_bool("SOPS_ENGINE_SWEEP_IN_WORKER", True)
# Engine steps in Celery workers commit without waiting for the WAL flush on
# PostgreSQL (see pipeline_engine/runtime/tasks.py for why that is safe).
SOPS_ENGINE_ASYNC_COMMIT = env_bool("SOPS_ENGINE_ASYNC_COMMIT", True)
# How long a worker, the engine's sweep and the scheduler wait for the database to accept
# connections again before retrying work whose connection was lost before it changed
# anything (pipeline_engine/runtime/db_retry.py). Web requests do not wait.
SOPS_DB_RETRY_WAIT_SECONDS = float(os.environ.get("SOPS_DB_RETRY_WAIT_SECONDS", "10"))

# prometheus-client's multi-process mode: every process (web workers, Celery
# worker, scheduler) writes its samples here and /metrics sums them.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# One JSON object per line (LOG_FORMAT=plain for a terminal-friendly form);
# sops_api.logs adds the request's path, app_code and user, and the engine's
# run_id / node_id, to every line.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "sops_api.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "sops_api.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
