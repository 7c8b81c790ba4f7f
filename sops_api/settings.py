"""Settings, all from the environment.

Defaults give the embedded mode a newcomer starts with `make run`: SQLite under
var/ and kombu's filesystem transport as the broker, so no server is needed.
Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).

The embedded demo (SOPS_DEMO) is: neither DATABASE_URL nor CELERY_BROKER_URL
set, unless SOPS_DEMO=0/1 says otherwise. Only there may SECRET_KEY be left
unset (a key is generated into var/secret_key, 0600, and reused); anywhere else
the web server, the worker and every manage.py command refuse to start without
one (sops_api/checks.py). README.md's "Production checklist" lists every
security-relevant setting.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from sops_api.private_files import on_connection_created, private_dir, private_file, read_or_create_secret

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = private_dir(Path(os.environ.get("SOPS_VAR_DIR", BASE_DIR / "var")))


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SOPS_DEMO = env_bool("SOPS_DEMO", not os.environ.get("DATABASE_URL") and not os.environ.get("CELERY_BROKER_URL"))
# The code's own key: what a deployment that forgot SECRET_KEY would run with. sops_api/checks.py
# refuses to start with it outside the demo; the tests' own process may load it.
INSECURE_SECRET_KEY = "dev-insecure-secret-key-change-me"
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    read_or_create_secret(VAR_DIR / "secret_key") if SOPS_DEMO else INSECURE_SECRET_KEY)
# Old keys still accepted while a rotation completes; app secrets hashed under one are re-hashed on use.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
DEBUG = env_bool("DEBUG", False)
# Requests whose Host header is not listed get a 400. The default is the loopback names (what
# `make run` serves); a server lists its own names, "*" only behind a proxy that checks them.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# The admin's forms check the origin of POSTs: list the HTTPS origins it is reached by.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients):
# requests count as HTTPS and cookies are sent over HTTPS only.
if env_bool("SOPS_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))

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
    "clocked_app",
    "pages_app",
]

MIDDLEWARE = [
    "sops_api.logs.RequestContextMiddleware",
    "sops_api.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and Swagger UI's static files from gunicorn itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's sessions, authentication, messages and framing, skipped for the gateway's JSON
    # calls, which carry app credentials instead (sops_api/browser_middleware.py).
    "sops_api.browser_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "sops_api.browser_middleware.AuthenticationMiddleware",
    "sops_api.browser_middleware.MessageMiddleware",
    "sops_api.browser_middleware.XFrameOptionsMiddleware",
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
# (once per request, task or tick): a database restart closes every kept connection,
# and the first use of a dead one would fail. On PostgreSQL the check asks the kernel
# whether the idle socket has anything to read before it makes a round trip
# (sops_api/postgresql/base.py). What still fails (a connection lost between the check
# and the statement) is retried once if nothing had changed:
# pipeline_engine/runtime/db_retry.py.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "sops_api.postgresql"
    # Without it a connect to an unreachable host (not a refused port) waits for the OS's TCP
    # timeout, minutes; a request would hang instead of answering "service unavailable".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] == str(VAR_DIR / "sops.sqlite3"):
        private_file(VAR_DIR / "sops.sqlite3")  # 0600 before SQLite creates it with the umask's mode
    from django.db.backends.signals import connection_created

    # Any SQLite file (the tests' too) and its -wal/-shm are narrowed to 0600 on each connection.
    connection_created.connect(on_connection_created, dispatch_uid="sops-private-sqlite")
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
        private_dir(_broker_dir / sub)
    private_dir(_broker_dir)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # Without this kombu writes its broadcast exchanges to ./control in the CWD.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu polls the folder once a second by default: a second of latency per message and
        # per stop (the worker notices a shutdown between polls). A listing every 0.2 s is cheap.
        "polling_interval": 0.2,
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

# --- request limits --------------------------------------------------------
# What one request may carry; sops_common/limits.py enforces them (with the
# fixed limits: ids up to 2**63-1, offsets up to 10**9, cron fields of 64 ASCII
# characters) and answers 3540000 naming the parameter and the limit.
SOPS_MAX_BODY_BYTES = int(os.environ.get("SOPS_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
SOPS_MAX_JSON_DEPTH = int(os.environ.get("SOPS_MAX_JSON_DEPTH", "64"))
SOPS_MAX_FORM_FIELDS = int(os.environ.get("SOPS_MAX_FORM_FIELDS", "1000"))
SOPS_MAX_LIST_ITEMS = int(os.environ.get("SOPS_MAX_LIST_ITEMS", "1000"))
# The expansion budget of a template or task tree: nodes once every SubProcess (inline or a
# referenced template) is unfolded, and SubProcess levels; checked at import, template save,
# create_task, create_periodic_task and preview_task_tree (pipeline_engine/core/expansion.py).
SOPS_MAX_EXPANDED_NODES = int(os.environ.get("SOPS_MAX_EXPANDED_NODES", "20000"))
SOPS_MAX_SUBPROCESS_DEPTH = int(os.environ.get("SOPS_MAX_SUBPROCESS_DEPTH", "8"))
# Django enforces the same two numbers where it parses bodies itself (the admin).
DATA_UPLOAD_MAX_MEMORY_SIZE = SOPS_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = SOPS_MAX_FORM_FIELDS

# --- sops ----------------------------------------------------------------
SOPS_APP_HOST = os.environ.get("SOPS_APP_HOST", "http://127.0.0.1:8000/")
# Outbound HTTP made for users (bk_http_request, task callback_url) reaches
# public addresses; internal ones (loopback, private, link-local, ...) only
# where an entry here opens them: host, *.domain, host:port, IPv4/IPv6 CIDR.
# Empty by default. Rules: pipeline_engine/core/egress.py. A bad entry stops
# the process at start (the engine's app checks it) rather than failing requests later.
SOPS_HTTP_ALLOWLIST = env_list("SOPS_HTTP_ALLOWLIST", "")
# How long a process may remember identity lookups (app, ticket, business,
# role); see access_app/cache.py. 0 turns it off.
SOPS_AUTH_CACHE_SECONDS = float(os.environ.get("SOPS_AUTH_CACHE_SECONDS", "2"))
# Trusted apps (the original's whitelist, gcloud/apigw/constants.py): only they may import
# templates (import_common_template, import_project_template, copy_template_across_project).
# APP_WHITELIST adds app codes (comma-separated) to the original's defaults; see access_app/trust.py.
APP_WHITELIST = env_list("APP_WHITELIST", "")
# Limited apps may call import_project_template too (the original's BKAPP_ALLOWED_LIMITED_API_APPS).
BKAPP_ALLOWED_LIMITED_API_APPS = env_list("BKAPP_ALLOWED_LIMITED_API_APPS", "")
# Every in-process cache is bounded in approximate bytes as well as in entries; an entry heavier
# than a quarter of its cache's budget is not cached (pipeline_engine/core/bounded_cache.py).
SOPS_AUTH_CACHE_BYTES = int(os.environ.get("SOPS_AUTH_CACHE_BYTES", str(8 * 1024 * 1024)))
SOPS_TREE_CACHE_BYTES = int(os.environ.get("SOPS_TREE_CACHE_BYTES", str(64 * 1024 * 1024)))
SOPS_EXPRESSION_CACHE_BYTES = int(os.environ.get("SOPS_EXPRESSION_CACHE_BYTES", str(16 * 1024 * 1024)))
# The built-in script executor runs scripts on the worker host; off unless an
# operator turns it on.
SOPS_SCRIPT_EXECUTION_ENABLED = env_bool("SOPS_SCRIPT_EXECUTION_ENABLED", False)
# What one script run by the built-in executor may use (0 turns a limit off);
# see ScriptLimits in pipeline_engine/core/components/script_executors.py.
SOPS_SCRIPT_CPU_SECONDS = int(os.environ.get("SOPS_SCRIPT_CPU_SECONDS", "600"))
SOPS_SCRIPT_MEMORY_MB = int(os.environ.get("SOPS_SCRIPT_MEMORY_MB", "1024"))
SOPS_SCRIPT_OUTPUT_MB = float(os.environ.get("SOPS_SCRIPT_OUTPUT_MB", "16"))
SOPS_SCRIPT_FILE_MB = int(os.environ.get("SOPS_SCRIPT_FILE_MB", "1024"))
SOPS_SCRIPT_OPEN_FILES = int(os.environ.get("SOPS_SCRIPT_OPEN_FILES", "1024"))
SOPS_SCRIPT_PROCESSES = int(os.environ.get("SOPS_SCRIPT_PROCESSES", "64"))
SOPS_SCRIPT_MAX_SECONDS = int(os.environ.get("SOPS_SCRIPT_MAX_SECONDS", "86400"))
# Extra component modules to import at start (users' plugins).
SOPS_COMPONENT_MODULES = env_list("SOPS_COMPONENT_MODULES", "")
# How long a run may go without progress before the reaper re-enqueues it.
SOPS_REAPER_LEASE_SECONDS = int(os.environ.get("SOPS_REAPER_LEASE_SECONDS", "30"))
SOPS_NODE_RERUN_LIMIT = int(os.environ.get("SOPS_NODE_RERUN_LIMIT", "100"))
# What one node attempt's log (ctx.log in a component; get_task_node_log) may hold, in characters
# of messages; past it lines are dropped and the log is marked truncated (core/components/node_log.py).
SOPS_NODE_LOG_MAX_CHARS = int(os.environ.get("SOPS_NODE_LOG_MAX_CHARS", "65536"))
# get_task_effective_time leaves out the time of these components (a person's waiting, not the
# task's work). The original reads MANUAL_WAITING_COMPONENT_CODES and defaults to none; its doc's
# list is the default here (docs/differences.md).
SOPS_MANUAL_WAITING_COMPONENT_CODES = env_list("SOPS_MANUAL_WAITING_COMPONENT_CODES",
                                               "bk_approve,pause_node,sleep_timer,bot-approval")
# get_task_node_data's execution_time: how many earlier runs of the template node it lists.
SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES = int(os.environ.get("SOPS_MAX_RECORDED_NODE_EXECUTION_TIMES", "5"))
# The engine's sweep (due timers, timeouts, lost work) runs this often; each
# Celery worker's main process runs it in a thread unless turned off (then run
# `python -m pipeline_engine.runtime.reaper` or the task pipeline_engine.sweep).
SOPS_REAPER_INTERVAL_SECONDS = float(os.environ.get("SOPS_REAPER_INTERVAL_SECONDS", "1"))
SOPS_ENGINE_SWEEP_IN_WORKER = env_bool("SOPS_ENGINE_SWEEP_IN_WORKER", True)
# Engine steps in Celery workers commit without waiting for the WAL flush on
# PostgreSQL (see pipeline_engine/runtime/tasks.py for why that is safe).
SOPS_ENGINE_ASYNC_COMMIT = env_bool("SOPS_ENGINE_ASYNC_COMMIT", True)
# How long the caller of run_pipeline (start_task's request) may walk a new run's first step
# itself: inline nodes finish before the answer, slow components go to workers at once. 0: never.
SOPS_ENGINE_START_WALK_MS = float(os.environ.get("SOPS_ENGINE_START_WALK_MS", "5"))
# Threads of one scheduler that fire a burst of due periodic tasks (PostgreSQL's SKIP LOCKED;
# periodic_app/scheduler.py). 1: one thread, as on SQLite.
SOPS_SCHEDULER_FIRING_THREADS = int(os.environ.get("SOPS_SCHEDULER_FIRING_THREADS", "2"))
# How long a worker, the engine's sweep and the scheduler wait for the database to accept
# connections again before retrying work whose connection was lost before it changed
# anything (pipeline_engine/runtime/db_retry.py). Web requests do not wait.
SOPS_DB_RETRY_WAIT_SECONDS = float(os.environ.get("SOPS_DB_RETRY_WAIT_SECONDS", "10"))
# The hot reads (a status poll, a task's or template's read) are prepared once per PostgreSQL
# connection and then only executed (pipeline_engine/runtime/prepared.py). Turn off behind a
# pooler that moves a client between server sessions (PgBouncer in transaction mode).
SOPS_DB_PREPARE = env_bool("SOPS_DB_PREPARE", True)

# /metrics answers only `Authorization: Bearer <SOPS_METRICS_TOKEN>` when it is set
# (401 otherwise); unset, it is open (the demo, or a port only Prometheus reaches).
SOPS_METRICS_TOKEN = os.environ.get("SOPS_METRICS_TOKEN", "")

# prometheus-client's multi-process mode: every process (web workers, Celery
# worker, scheduler) writes its samples here and /metrics sums them.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# Error reports (the DEBUG page, admin mails) mask credentials in the query
# string, the X-Bkapi-Authorization header and POST parameters.
DEFAULT_EXCEPTION_REPORTER = "sops_api.logs.SecretsExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "sops_api.logs.SecretsReporterFilter"

# One JSON object per line (LOG_FORMAT=plain for a terminal-friendly form);
# sops_api.logs adds the request's path, app_code and user, and the engine's
# run_id / node_id, to every line.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "sops_api.logs.ContextFilter"},
                "redact": {"()": "sops_api.logs.RedactingFilter"}},
    "formatters": {
        "json": {"()": "sops_api.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
