"""Workroom settings: one module, driven by the environment (a `.env` file beside manage.py is optional).

Every variable is documented in `.env.example`. Secrets also accept `NAME_FILE` (docker secrets).
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from dashboard.alerts.schedule import ALERTS_BEAT_SCHEDULE
from dashboard.bulk.schedule import BULK_BEAT_SCHEDULE
from dashboard.lib.envparse import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    parse_encryption_keys,
)
from dashboard.mirror.schedule import MIRROR_BEAT_SCHEDULE
from dashboard.policies.schedule import POLICY_BEAT_SCHEDULE
from dashboard.workitems.schedule import WORKITEMS_BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent

if (BASE_DIR / ".env").is_file():
    # read_env never overrides variables already set in the process environment.
    environ.Env.read_env(BASE_DIR / ".env")

# The process environment: read here only; every other module reads django.conf.settings.
ENV = os.environ

VAR_DIR = Path(env_str(ENV, "WORKROOM_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for: tests get it from pyproject's pytest `env`, `make typecheck` and `make run` set it.
WORKROOM_DEV = env_bool(ENV, "WORKROOM_DEV", False)
DEBUG = env_bool(ENV, "DEBUG", WORKROOM_DEV)

# --- Secrets -------------------------------------------------------------------------------------

SECRET_KEY = env_secret(ENV, "SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off; "
            "set WORKROOM_DEV=1 for a development run."
        )
    SECRET_KEY = "django-insecure-workroom-development-only"  # noqa: S105 (DEBUG only)

# Fixed, public development key: ciphertexts made with it protect nothing.
DEV_ENCRYPTION_KEY_ID = "dev"
DEV_ENCRYPTION_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"workroom development encryption key - not secret").digest()
).decode("ascii")

_raw_encryption_keys = env_secret(ENV, "WORKROOM_ENCRYPTION_KEYS")
if _raw_encryption_keys:
    WORKROOM_ENCRYPTION_KEYS = parse_encryption_keys(_raw_encryption_keys)
elif DEBUG:
    WORKROOM_ENCRYPTION_KEYS = [(DEV_ENCRYPTION_KEY_ID, DEV_ENCRYPTION_KEY)]
else:
    raise ImproperlyConfigured(
        "WORKROOM_ENCRYPTION_KEYS (or WORKROOM_ENCRYPTION_KEYS_FILE) is required when DEBUG is off; "
        "create one with 'manage.py generate_encryption_key'."
    )
WORKROOM_USING_DEV_ENCRYPTION_KEY = WORKROOM_ENCRYPTION_KEYS[0][
    0
] == DEV_ENCRYPTION_KEY_ID and (WORKROOM_ENCRYPTION_KEYS[0][1] == DEV_ENCRYPTION_KEY)

# --- Hosts and HTTPS -----------------------------------------------------------------------------

_dev_hosts = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list(ENV, "ALLOWED_HOSTS", _dev_hosts if DEBUG else [])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is required when DEBUG is off (comma-separated host names)."
    )
CSRF_TRUSTED_ORIGINS = env_list(ENV, "CSRF_TRUSTED_ORIGINS")

SECURE_SSL_REDIRECT = env_bool(ENV, "WORKROOM_SSL_REDIRECT", not DEBUG)
# Container and load-balancer probes speak plain http to the app; /healthz carries nothing secret.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool(ENV, "WORKROOM_BEHIND_TLS_PROXY", False):
    # Only trust X-Forwarded-Proto when a proxy that always sets it sits in front of us.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int(
    ENV, "WORKROOM_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool(ENV, "WORKROOM_HSTS_PRELOAD", False)
# Preloading is an opt-in commitment of the operator's whole domain to browser lists; a self-hosted
# app cannot make it on their behalf, so the reminder is silenced unless they opt in.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    # __Host- cookies need Secure, Path=/ and no Domain; browsers drop them over plain http.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_AGE = env_int(ENV, "WORKROOM_SESSION_IDLE_HOURS", 12, minimum=1) * 3600
SESSION_SAVE_EVERY_REQUEST = True  # makes SESSION_COOKIE_AGE an idle timeout
# Absolute lifetime: a session ends this long after its log-in, however active (core/sessions.py).
WORKROOM_SESSION_MAX_HOURS = env_int(ENV, "WORKROOM_SESSION_MAX_HOURS", 24, minimum=1)
CSRF_FAILURE_VIEW = "dashboard.views.csrf_failure"
# Masks secret-named POST fields and traceback variables on the DEBUG page and error mails.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dashboard.core.debug.SecretMaskingReporterFilter"

# --- Applications --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials.apps.SimpleAppConfig",
    "csp",
    "axes",
    "dashboard.core",
    "dashboard.accounts",
    "dashboard.audit",
    "dashboard.workspaces",
    "dashboard.mirror",
    "dashboard.workitems",
    "dashboard.processes",
    "dashboard.bulk",
    "dashboard.fleet",
    "dashboard.insights",
    "dashboard.alerts",
    "dashboard.policies",
    "dashboard.api",
    "dashboard.home",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "dashboard.core.middleware.NoStoreMiddleware",
    "dashboard.core.middleware.RequestSizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "dashboard.core.sessions.AbsoluteSessionLifetimeMiddleware",
    "dashboard.accounts.middleware.TimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "dashboard.api.conventions.ApiMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.mirror.context_processors.fleet_warnings",
            ],
            # template_partials wraps the cached loader so "page.html#partial" names resolve.
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database ------------------------------------------------------------------------------------

DATABASE_URL = env_str(ENV, "DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
_SUPPORTED_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql"}
try:
    if urlsplit(DATABASE_URL).scheme not in _SUPPORTED_DB_SCHEMES:
        raise ValueError(DATABASE_URL)
    _db: dict[str, Any] = dict(environ.Env.db_url_config(DATABASE_URL))
except (ImproperlyConfigured, ValueError, KeyError):
    raise ImproperlyConfigured(
        "DATABASE_URL is not a supported URL (use sqlite:///path or postgres://user@host:port/name)."
    ) from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write concurrently: queue writers on a busy timeout (IMMEDIATE) and let readers
    # run during writes (WAL). ECOSYSTEM.md E4.
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **_db.get("OPTIONS", {}),
    }
    # A file (not :memory:) so worker subprocesses started by tests can open the same test DB;
    # the pid keeps concurrent test runs in one checkout apart.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    _db.setdefault(
        "CONN_MAX_AGE", env_int(ENV, "WORKROOM_DB_CONN_MAX_AGE", 60, minimum=0)
    )
    _db["CONN_HEALTH_CHECKS"] = True
    if test_name := env_str(ENV, "WORKROOM_TEST_DB_NAME"):
        _db["TEST"] = {"NAME": test_name}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ------------------------------------------------------------------------

REDIS_URL = env_str(ENV, "REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_db_url(url: str, db: int) -> str:
    """Return ``url`` pointing at Redis database ``db`` (the broker and the cache never share one)."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment)
    )


_redis_parts = urlsplit(REDIS_URL)
if _redis_parts.scheme not in {"redis", "rediss"} or not _redis_parts.hostname:
    raise ImproperlyConfigured("REDIS_URL must look like redis://host:port/db.")
try:
    _broker_db = int(_redis_parts.path.strip("/") or 0)
except ValueError:
    raise ImproperlyConfigured(
        "REDIS_URL must end with a database number, e.g. /0."
    ) from None

CACHE_URL = env_str(ENV, "WORKROOM_CACHE_URL", _redis_db_url(REDIS_URL, _broker_db + 1))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "workroom",
        "TIMEOUT": 300,
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600
}  # Redis default; ECOSYSTEM B2
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 330
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 30
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

WORKROOM_HEARTBEAT_KEY = env_str(
    ENV, "WORKROOM_HEARTBEAT_KEY", "workroom:worker-heartbeat"
)
WORKROOM_HEARTBEAT_INTERVAL = env_int(ENV, "WORKROOM_HEARTBEAT_INTERVAL", 30, minimum=1)
WORKROOM_HEARTBEAT_MAX_AGE = env_int(
    ENV, "WORKROOM_HEARTBEAT_MAX_AGE", 4 * WORKROOM_HEARTBEAT_INTERVAL, minimum=1
)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "worker-heartbeat": {
        "task": "dashboard.tasks.heartbeat",
        "schedule": float(WORKROOM_HEARTBEAT_INTERVAL),
        "options": {"expires": float(WORKROOM_HEARTBEAT_INTERVAL)},
    },
}
CELERY_BEAT_SCHEDULE |= MIRROR_BEAT_SCHEDULE | BULK_BEAT_SCHEDULE | ALERTS_BEAT_SCHEDULE
CELERY_BEAT_SCHEDULE |= POLICY_BEAT_SCHEDULE | WORKITEMS_BEAT_SCHEDULE

# --- Workroom ------------------------------------------------------------------------------------

WORKROOM_ALLOW_HTTP_LOOPBACK = env_bool(ENV, "WORKROOM_ALLOW_HTTP_LOOPBACK", DEBUG)
WORKROOM_EXTRA_API_HOSTS = env_list(ENV, "WORKROOM_EXTRA_API_HOSTS")
WORKROOM_INVITATION_TTL_HOURS = env_int(
    ENV, "WORKROOM_INVITATION_TTL_HOURS", 72, minimum=1
)
WORKROOM_MAX_UPLOAD_MB = env_int(ENV, "WORKROOM_MAX_UPLOAD_MB", 50, minimum=1)
# A bulk preview can be confirmed this long; older drafts are refused and purged (bulk beat).
WORKROOM_BULK_DRAFT_TTL_HOURS = env_int(
    ENV, "WORKROOM_BULK_DRAFT_TTL_HOURS", 24, minimum=1
)
# Only behind a reverse proxy that overwrites X-Forwarded-For: otherwise clients could forge the
# IP recorded in the audit log.
WORKROOM_TRUST_X_FORWARDED_FOR = env_bool(ENV, "WORKROOM_TRUST_X_FORWARDED_FOR", False)
# The home page calls a run stuck when it has been in progress (or queued) this long, and
# counts items pending for longer than this as waiting too long.
WORKROOM_STUCK_RUN_MINUTES = env_int(ENV, "WORKROOM_STUCK_RUN_MINUTES", 120, minimum=1)
WORKROOM_PENDING_STALE_MINUTES = env_int(
    ENV, "WORKROOM_PENDING_STALE_MINUTES", 60, minimum=1
)
WORKROOM_DEFAULT_SYNC_INTERVAL = env_int(
    ENV, "WORKROOM_DEFAULT_SYNC_INTERVAL", 60, minimum=5
)
# Sync tuning (dashboard/mirror): page size of list reads, failed payloads fetched per sync, how
# often the whole failed list is re-read, how often every run is listed (catches deletions).
WORKROOM_SYNC_PAGE_SIZE = env_int(ENV, "WORKROOM_SYNC_PAGE_SIZE", 1000, minimum=1)
WORKROOM_SYNC_PAYLOAD_BUDGET = env_int(
    ENV, "WORKROOM_SYNC_PAYLOAD_BUDGET", 100, minimum=0
)
WORKROOM_SYNC_FAILED_SWEEP_SECONDS = env_int(
    ENV, "WORKROOM_SYNC_FAILED_SWEEP_SECONDS", 300, minimum=0
)
WORKROOM_SYNC_FULL_LISTING_HOURS = env_int(
    ENV, "WORKROOM_SYNC_FULL_LISTING_HOURS", 24, minimum=0
)
# Workers and worker groups (2 requests) are read by a full sync at most this often.
WORKROOM_SYNC_WORKERS_SECONDS = env_int(
    ENV, "WORKROOM_SYNC_WORKERS_SECONDS", 60, minimum=0
)
# Convergence: the failed list is read by every sync while it is shorter than this; a workspace
# with active items (or runs to re-read) is synced again within WORKROOM_SYNC_ACTIVE_INTERVAL
# seconds; a webhook's sync of one run waits up to WORKROOM_SYNC_TARGETED_WAIT_SECONDS for a
# running sync, trying again every WORKROOM_SYNC_TARGETED_RETRY_SECONDS.
WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW = env_int(
    ENV, "WORKROOM_SYNC_FAILED_SWEEP_ALWAYS_BELOW", 5000, minimum=0
)
WORKROOM_SYNC_ACTIVE_INTERVAL = env_int(
    ENV, "WORKROOM_SYNC_ACTIVE_INTERVAL", 10, minimum=1
)
WORKROOM_SYNC_TARGETED_WAIT_SECONDS = env_int(
    ENV, "WORKROOM_SYNC_TARGETED_WAIT_SECONDS", 120, minimum=0
)
WORKROOM_SYNC_HISTORY_DAYS = env_int(ENV, "WORKROOM_SYNC_HISTORY_DAYS", 14, minimum=1)
WORKROOM_SYNC_TARGETED_RETRY_SECONDS = env_float(
    ENV, "WORKROOM_SYNC_TARGETED_RETRY_SECONDS", 0.5, minimum=0.1
)
# The sync task's own time limits: a workspace whose Control Room hangs holds one worker at
# most this long. A sync's lease must outlive the hard limit (ECOSYSTEM.md B5), and its own
# time budget must end before the soft limit, so a long sync stops cleanly and the next one
# resumes.
WORKROOM_SYNC_SOFT_TIME_LIMIT = env_int(
    ENV, "WORKROOM_SYNC_SOFT_TIME_LIMIT", CELERY_TASK_SOFT_TIME_LIMIT, minimum=2
)
WORKROOM_SYNC_TIME_LIMIT = env_int(
    ENV, "WORKROOM_SYNC_TIME_LIMIT", WORKROOM_SYNC_SOFT_TIME_LIMIT + 30, minimum=3
)
if WORKROOM_SYNC_SOFT_TIME_LIMIT >= WORKROOM_SYNC_TIME_LIMIT:
    raise ImproperlyConfigured(
        "WORKROOM_SYNC_SOFT_TIME_LIMIT must be below WORKROOM_SYNC_TIME_LIMIT "
        f"({WORKROOM_SYNC_SOFT_TIME_LIMIT} >= {WORKROOM_SYNC_TIME_LIMIT})."
    )
WORKROOM_SYNC_LEASE_SECONDS = env_int(
    ENV, "WORKROOM_SYNC_LEASE_SECONDS", WORKROOM_SYNC_TIME_LIMIT + 30, minimum=1
)
WORKROOM_SYNC_TIME_BUDGET = env_int(
    ENV,
    "WORKROOM_SYNC_TIME_BUDGET",
    max(WORKROOM_SYNC_SOFT_TIME_LIMIT - 30, 1),
    minimum=1,
)
if WORKROOM_SYNC_TIME_BUDGET >= WORKROOM_SYNC_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"WORKROOM_SYNC_TIME_BUDGET={WORKROOM_SYNC_TIME_BUDGET} must be below the sync task's "
        f"soft time limit ({WORKROOM_SYNC_SOFT_TIME_LIMIT} s)."
    )
# Deliveries of one sync before it is given up (stops a sync that kills its worker); retries of
# a failed sync task, backing off from RETRY_BASE seconds doubled each time up to RETRY_CAP.
WORKROOM_SYNC_MAX_ATTEMPTS = env_int(ENV, "WORKROOM_SYNC_MAX_ATTEMPTS", 8, minimum=1)
WORKROOM_SYNC_MAX_RETRIES = env_int(ENV, "WORKROOM_SYNC_MAX_RETRIES", 5, minimum=0)
WORKROOM_SYNC_RETRY_BASE = env_float(ENV, "WORKROOM_SYNC_RETRY_BASE", 5.0, minimum=0)
WORKROOM_SYNC_RETRY_CAP = env_float(ENV, "WORKROOM_SYNC_RETRY_CAP", 300.0, minimum=1)
# A queued sync whose message has not started after this long is enqueued again.
WORKROOM_SYNC_SWEEP_AFTER = env_int(ENV, "WORKROOM_SYNC_SWEEP_AFTER", 60, minimum=1)
WORKROOM_SYNC_PROGRESS_EVERY = env_float(
    ENV, "WORKROOM_SYNC_PROGRESS_EVERY", 1.0, minimum=0
)
# Each Control Room request of a sync: a hung call must time out (with the client's retries) well
# inside the task's soft time limit (ECOSYSTEM.md F20).
WORKROOM_SYNC_CONNECT_TIMEOUT = env_float(
    ENV, "WORKROOM_SYNC_CONNECT_TIMEOUT", 5.0, minimum=0.1
)
WORKROOM_SYNC_READ_TIMEOUT = env_float(
    ENV, "WORKROOM_SYNC_READ_TIMEOUT", 30.0, minimum=1
)
WORKROOM_SYNC_CLIENT_RETRIES = env_int(
    ENV, "WORKROOM_SYNC_CLIENT_RETRIES", 4, minimum=0
)
WORKROOM_SYNC_DB_BATCH = env_int(ENV, "WORKROOM_SYNC_DB_BATCH", 1000, minimum=1)
# Celery queue of sync tasks (and mirror checks); empty = the default queue.
WORKROOM_SYNC_QUEUE = env_str(ENV, "WORKROOM_SYNC_QUEUE", "sync")
# Webhook deliveries whose webhookEventTimestamp is further than this from now (past or future)
# are refused: a captured delivery cannot be replayed after its event id is purged.
WORKROOM_WEBHOOK_MAX_AGE_SECONDS = env_int(
    ENV, "WORKROOM_WEBHOOK_MAX_AGE_SECONDS", 300, minimum=1
)
# Base URL Control Room calls back for webhooks; empty = the host of the admin's request.
WORKROOM_PUBLIC_URL = env_str(ENV, "WORKROOM_PUBLIC_URL", "")
# Bulk operations (dashboard/bulk): work item ids per Control Room batch call (one chunk, one
# task), a per-workspace throttle of items sent (0 = unlimited), the largest selection one
# operation may hold; an item whose mirror row is older than STALE_SECONDS is re-read first.
# 250: 100,000 items are 400 batch calls (plus 100 pages of the failed list, `bulk.freshness`),
# inside issue 17's 1,000 calls; a chunk is still one short call.
WORKROOM_BULK_CHUNK_SIZE = env_int(ENV, "WORKROOM_BULK_CHUNK_SIZE", 250, minimum=1)
WORKROOM_BULK_MAX_ITEMS_PER_MINUTE = env_int(
    ENV, "WORKROOM_BULK_MAX_ITEMS_PER_MINUTE", 0, minimum=0
)
WORKROOM_BULK_MAX_ITEMS = env_int(ENV, "WORKROOM_BULK_MAX_ITEMS", 100_000, minimum=1)
WORKROOM_BULK_STALE_SECONDS = env_int(ENV, "WORKROOM_BULK_STALE_SECONDS", 30, minimum=0)
# A claimed chunk is its worker's for the lease, which outlives the chunk task's hard time limit.
WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT = env_int(
    ENV, "WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT", 120, minimum=1
)
WORKROOM_BULK_CHUNK_TIME_LIMIT = env_int(
    ENV, "WORKROOM_BULK_CHUNK_TIME_LIMIT", 150, minimum=1
)
if WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT >= WORKROOM_BULK_CHUNK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT must be below WORKROOM_BULK_CHUNK_TIME_LIMIT "
        f"({WORKROOM_BULK_CHUNK_SOFT_TIME_LIMIT} >= {WORKROOM_BULK_CHUNK_TIME_LIMIT})."
    )
WORKROOM_BULK_LEASE_SECONDS = env_int(
    ENV, "WORKROOM_BULK_LEASE_SECONDS", WORKROOM_BULK_CHUNK_TIME_LIMIT + 30, minimum=1
)
# Deliveries of a chunk that died mid-way before it is given up (a poison chunk); task retries
# after 5xx / unreachable Control Room (429s are not counted), backing off from RETRY_BASE seconds
# up to RETRY_CAP, the longest countdown ever scheduled (under the broker's visibility timeout).
WORKROOM_BULK_MAX_ATTEMPTS = env_int(ENV, "WORKROOM_BULK_MAX_ATTEMPTS", 3, minimum=1)
WORKROOM_BULK_MAX_RETRIES = env_int(ENV, "WORKROOM_BULK_MAX_RETRIES", 5, minimum=0)
WORKROOM_BULK_RETRY_BASE = env_int(ENV, "WORKROOM_BULK_RETRY_BASE", 5, minimum=0)
WORKROOM_BULK_RETRY_CAP = env_int(ENV, "WORKROOM_BULK_RETRY_CAP", 300, minimum=1)
# A queued chunk whose message has not started after this long is enqueued again.
WORKROOM_BULK_SWEEP_AFTER = env_int(ENV, "WORKROOM_BULK_SWEEP_AFTER", 60, minimum=1)
# Celery queue of chunk tasks; empty = the default queue.
WORKROOM_BULK_QUEUE = env_str(ENV, "WORKROOM_BULK_QUEUE", "bulk")
# --- JSON API (dashboard/api) ---
# Requests one API token may make per minute (0 = unlimited); answered 429 + Retry-After beyond.
WORKROOM_API_RATE_LIMIT = env_int(ENV, "WORKROOM_API_RATE_LIMIT", 120, minimum=0)
# How long an Idempotency-Key's answer is kept for replay.
WORKROOM_API_IDEMPOTENCY_HOURS = env_int(
    ENV, "WORKROOM_API_IDEMPOTENCY_HOURS", 24, minimum=1
)
# Retry policies: a claim is its evaluation's this long (then the sweep re-reads the item);
# the Celery queue of evaluations (empty = default). Their quiet hours' zone: below.
WORKROOM_POLICY_LEASE_SECONDS = env_int(
    ENV, "WORKROOM_POLICY_LEASE_SECONDS", 330, minimum=1
)
WORKROOM_POLICY_QUEUE = env_str(ENV, "WORKROOM_POLICY_QUEUE", "")

# Working on failures together (dashboard/workitems): a mark done or delete waits this many
# seconds before it is sent to Control Room, with Undo (0 = sent at once); mention emails
# link to WORKROOM_BASE_URL and go through Django's SMTP backend (both set below, with alerts).
WORKROOM_UNDO_SECONDS = env_int(ENV, "WORKROOM_UNDO_SECONDS", 10, minimum=0)
WORKROOM_UNDO_QUEUE = env_str(ENV, "WORKROOM_UNDO_QUEUE", "")
# Password of the user 'manage.py bootstrap_demo' creates (development); empty = its fixed one.
WORKROOM_DEMO_PASSWORD = env_secret(ENV, "WORKROOM_DEMO_PASSWORD")

# --- Alerts and email (dashboard/alerts) -------------------------------------------------------

# Absolute links in alert messages and digests; empty = WORKROOM_PUBLIC_URL, else localhost.
WORKROOM_BASE_URL = (
    env_str(ENV, "WORKROOM_BASE_URL", "")
    or WORKROOM_PUBLIC_URL
    or "http://localhost:8000"
).rstrip("/")
# Seconds to connect and to read of one outbound alert webhook call; task retries of a failed
# delivery (backing off from 30 s, doubled each time).
WORKROOM_ALERT_HTTP_TIMEOUT = env_float(
    ENV, "WORKROOM_ALERT_HTTP_TIMEOUT", 10.0, minimum=0.5
)
WORKROOM_ALERT_MAX_RETRIES = env_int(ENV, "WORKROOM_ALERT_MAX_RETRIES", 5, minimum=0)
WORKROOM_ALERT_RETRY_BASE = env_float(ENV, "WORKROOM_ALERT_RETRY_BASE", 30.0, minimum=0)
# A claimed delivery is its worker's this long (longer than one send can take); a killed
# worker's delivery is sent again by the sweeper once it runs out.
WORKROOM_ALERT_LEASE_SECONDS = env_int(
    ENV, "WORKROOM_ALERT_LEASE_SECONDS", 120, minimum=1
)
# Recovered alerts (with their messages and deliveries) and digest records older than this are
# deleted (hourly beat).
WORKROOM_ALERT_HISTORY_DAYS = env_int(ENV, "WORKROOM_ALERT_HISTORY_DAYS", 90, minimum=1)
# Celery queue of alert evaluations and deliveries; empty = the default queue.
WORKROOM_ALERT_QUEUE = env_str(ENV, "WORKROOM_ALERT_QUEUE", "")
EMAIL_BACKEND = env_str(
    ENV, "EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = env_str(ENV, "EMAIL_HOST", "localhost")
EMAIL_PORT = env_int(ENV, "EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str(ENV, "EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret(ENV, "EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool(ENV, "EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool(ENV, "EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set one."
    )
# A mention email is sent while the page waits: a slow mail server holds it this long at most.
EMAIL_TIMEOUT = env_int(ENV, "EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str(ENV, "DEFAULT_FROM_EMAIL", "workroom@localhost")

# --- Celery queues per kind of work -----------------------------------------------------------
# Syncs (many workspaces, each every minute or faster) and bulk chunks (thousands per
# operation) get queues of their own, so a flood of one never starves the other or the short
# tasks (beat's ticks, alerts, policies, undo) on the default queue. A worker started without
# -Q consumes every queue below (`make run`); production runs a worker per queue (README
# "Scaling out"). Callers also pass the queue explicitly; these routes cover any other sender.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES: dict[str, dict[str, str]] = {
    name: {"queue": queue}
    for name, queue in (
        ("dashboard.mirror.tasks.sync_workspace", WORKROOM_SYNC_QUEUE),
        ("dashboard.mirror.tasks.check_mirror", WORKROOM_SYNC_QUEUE),
        ("dashboard.bulk.tasks.run_chunk", WORKROOM_BULK_QUEUE),
        ("dashboard.policies.tasks.evaluate_workspace", WORKROOM_POLICY_QUEUE),
        ("dashboard.alerts.tasks.evaluate_workspace", WORKROOM_ALERT_QUEUE),
        ("dashboard.alerts.tasks.deliver", WORKROOM_ALERT_QUEUE),
        ("dashboard.workitems.tasks.send_pending_action", WORKROOM_UNDO_QUEUE),
    )
    if queue
}
CELERY_TASK_QUEUES = [
    Queue(name, routing_key=name)
    for name in dict.fromkeys(
        [CELERY_TASK_DEFAULT_QUEUE, *(r["queue"] for r in CELERY_TASK_ROUTES.values())]
    )
]

# --- Auth, login throttling ----------------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AXES_FAILURE_LIMIT = env_int(ENV, "WORKROOM_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int(ENV, "WORKROOM_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
)
# Lock the (username, ip) pair so one attacker cannot lock a user out from everywhere (ASVS 6.1.1).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
if env_bool(ENV, "WORKROOM_BEHIND_TLS_PROXY", False):
    AXES_IPWARE_PROXY_COUNT = env_int(ENV, "WORKROOM_PROXY_COUNT", 1, minimum=1)
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]

# --- Content-Security-Policy (django-csp 4) -------------------------------------------------------

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- Static files, i18n --------------------------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str(ENV, "WORKROOM_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing one
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str(ENV, "TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Logging -------------------------------------------------------------------------------------

LOG_LEVEL = env_str(ENV, "WORKROOM_LOG_LEVEL", "INFO").upper()
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "dashboard.lib.redact.RedactingFilter"},
        "sql_secrets": {"()": "dashboard.lib.redact.SqlSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Its DEBUG records ("Exception while resolving variable") carry whole template contexts:
        # CSRF tokens, one-time invitation links. Never useful enough to log.
        "django.template": {"level": "INFO"},
        # DEBUG on: every SQL statement with its values; session/password ones are masked.
        "django.db.backends": {"filters": ["sql_secrets"]},
    },
}
