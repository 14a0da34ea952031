"""Quorum settings: everything comes from the environment, with an embedded default.

With no environment at all the service runs on SQLite under ./var/, stores artifacts under
./var/artifacts and runs Celery tasks in-process, so `manage.py quickstart` just works.
"""

import json
import os
import sys
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("QUORUM_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

DEV_SECRET_KEY = "quorum-insecure-dev-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
if SECRET_KEY == DEV_SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: refusing to start with the "
            "development secret key. Set DJANGO_SECRET_KEY to a long random value."
        )
    if "pytest" not in sys.modules:
        warnings.warn(
            "*** Quorum is using the DEVELOPMENT secret key (DJANGO_SECRET_KEY unset). "
            "Never expose this instance beyond your own machine. ***",
            stacklevel=1,
        )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}
if DEBUG and any(host not in LOOPBACK_HOSTS for host in ALLOWED_HOSTS):
    # Debug pages leak settings and source; never serve them to anything but this machine.
    raise ImproperlyConfigured(
        f"DJANGO_DEBUG is on while DJANGO_ALLOWED_HOSTS names non-loopback hosts ({', '.join(ALLOWED_HOSTS)}): "
        "refusing to start. Turn DJANGO_DEBUG off to serve other hosts."
    )

# --- Production security (all on when debug is off; check --deploy is clean) ---
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    # Health probes come from the load balancer over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# HSTS preload is an opt-in per domain (DJANGO_SECURE_HSTS_PRELOAD), not a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request bodies: JSON and form bodies above this are refused with 413 on every route.
QUORUM_MAX_BODY_BYTES = int(os.environ.get("QUORUM_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = QUORUM_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# Login throttling against password guessing (admin sessions and HTTP Basic alike).
QUORUM_LOGIN_MAX_FAILURES = int(os.environ.get("QUORUM_LOGIN_MAX_FAILURES", "5"))
QUORUM_LOGIN_LOCKOUT_SECONDS = int(os.environ.get("QUORUM_LOGIN_LOCKOUT_SECONDS", "900"))

# Electronic signatures (21 CFR Part 11, issue 23). The meanings a signer may give a signature;
# policies accept a subset and may require some, each from a different person.
QUORUM_SIGNATURE_MEANINGS = env_list(
    "QUORUM_SIGNATURE_MEANINGS", "Reviewed,Approved for production,Independent validation"
)
# On: everyone who may approve needs a second factor (TOTP) to sign, and the admin asks those who
# have none to enrol before anything else.
QUORUM_APPROVERS_NEED_SECOND_FACTOR = env_bool("QUORUM_APPROVERS_NEED_SECOND_FACTOR", False)
# The issuer shown in authenticator apps for Quorum's TOTP codes.
OTP_TOTP_ISSUER = os.environ.get("QUORUM_TOTP_ISSUER", "Quorum")

# Prometheus metrics at /metrics, readable only with this bearer token (unset: /metrics answers 404).
QUORUM_METRICS_TOKEN = os.environ.get("QUORUM_METRICS_TOKEN", "")
# Benchmarks only (bench/registry_vs_mlflow.py): serve the no-database /bench/floor view.
QUORUM_BENCH_FLOOR = env_bool("QUORUM_BENCH_FLOOR", False)

# Serving-path reads as server-side prepared statements (PostgreSQL; see config/prepared.py).
# Turn off behind a connection pooler in transaction mode.
QUORUM_PREPARED_READS = env_bool("QUORUM_PREPARED_READS", True)
# Serving-path answers (alias and version reads, verified tokens) kept per process and checked
# against the database's serving generation on every request (PostgreSQL; see config/serving.py).
QUORUM_SERVING_CACHE = env_bool("QUORUM_SERVING_CACHE", True)

_cache_url = os.environ.get("QUORUM_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "quorum"}
    )
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our static files: /api/docs/ works offline
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "audit",
    "registry",
    "artifacts",
    "workflows",
    "inventory",
    "retention",
    "webhooks",
]

MIDDLEWARE = [
    "config.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and API docs' static files from STATIC_ROOT (collectstatic) in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session signed in with its second factor.
    "django_otp.middleware.OTPMiddleware",
    # Default deny: routes and methods without a declared permission rule never reach a view.
    "accounts.routes.RouteRuleMiddleware",
    # A one-time password is changed before anything else (accounts/first_sign_in.py).
    "accounts.first_sign_in.PasswordChangeRequiredMiddleware",
    "config.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # config/templates: the site root, the HTML 404 and the admin index (config/landing.py).
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "config" / "templates"],
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

DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'quorum.sqlite3'}"
if not os.environ.get("DATABASE_URL"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # IMMEDIATE: a writer takes the lock at BEGIN, so read-then-write cannot deadlock.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Throttled ModelBackend that also refuses password logins for service accounts.
    "accounts.backends.HumanModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No guardian "AnonymousUser" row: anonymous callers simply have no grants.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("QUORUM_STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without a collectstatic run (development, tests) whitenoise reads the apps' static folders directly.
WHITENOISE_USE_FINDERS = env_bool("QUORUM_STATIC_USE_FINDERS", not (STATIC_ROOT / "admin").is_dir())

LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    # DRF's defaults, with JSON nested deep enough to exhaust recursion answered 400 instead of 500.
    "DEFAULT_PARSER_CLASSES": [
        "registry.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.TokenBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "registry.api.schema.QuorumAutoSchema",
    "EXCEPTION_HANDLER": "registry.api.errors.native_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum registry API",
    "DESCRIPTION": "Model registry and lifecycle governance. Native API under /api/v1/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Three models have a `state` with their own choices: name each enum after its model's states.
    "ENUM_NAME_OVERRIDES": {
        "RequestStateEnum": "workflows.models.RequestState",
        "CardStateEnum": "inventory.models.CardState",
        "EvidenceStateEnum": "artifacts.models.EvidenceState",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # The MLflow- and Databricks-compatible routes are documented by those projects; this is the native API.
    "PREPROCESSING_HOOKS": ["registry.api.schema.native_endpoints_only"],
}

# --- Celery: unset broker means tasks run in-process (embedded default) ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 5
# Publishing gives up after one quick retry instead of kombu's ~6 s of reconnecting: work is in the
# outbox (artifacts) and beat publishes it again, so a dead broker never holds up a request.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# --- Artifacts ---
QUORUM_ARTIFACT_ROOT = Path(os.environ.get("QUORUM_ARTIFACT_ROOT", VAR_DIR / "artifacts"))
# Local filesystem sources are accepted only under these roots.
QUORUM_ALLOWED_LOCAL_ROOTS = [
    Path(p) for p in env_list("QUORUM_ALLOWED_LOCAL_ROOTS", str(QUORUM_ARTIFACT_ROOT))
]
QUORUM_GOVERNED_STORE = os.environ.get("QUORUM_GOVERNED_STORE", f"file://{VAR_DIR / 'governed'}")
QUORUM_MLFLOW_TRACKING_URI = os.environ.get("QUORUM_MLFLOW_TRACKING_URI", "")
QUORUM_MAX_VERSION_BYTES = int(os.environ.get("QUORUM_MAX_VERSION_BYTES", str(50 * 1024**3)))
# Artifact pipeline (artifacts). S3 endpoint/region override boto3's AWS_* environment.
QUORUM_S3_ENDPOINT_URL = os.environ.get("QUORUM_S3_ENDPOINT_URL", "")
QUORUM_S3_REGION = os.environ.get("QUORUM_S3_REGION", "")
QUORUM_ARTIFACT_COPY_CONCURRENCY = int(os.environ.get("QUORUM_ARTIFACT_COPY_CONCURRENCY", "8"))
QUORUM_ARTIFACT_COPY_CHUNK_BYTES = int(os.environ.get("QUORUM_ARTIFACT_COPY_CHUNK_BYTES", str(64 * 1024**2)))
QUORUM_ARTIFACT_MULTIPART_COPY_THRESHOLD = int(
    os.environ.get("QUORUM_ARTIFACT_MULTIPART_COPY_THRESHOLD", str(5 * 1024**3))
)
# A running job whose worker has not heartbeated for this long is considered abandoned.
QUORUM_ARTIFACT_JOB_LEASE_SECONDS = int(os.environ.get("QUORUM_ARTIFACT_JOB_LEASE_SECONDS", "120"))
QUORUM_OUTBOX_REDISPATCH_SECONDS = float(os.environ.get("QUORUM_OUTBOX_REDISPATCH_SECONDS", "60"))
# Lets a deployment (or a test session) keep its tasks apart from others on a shared broker.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")

# --- Audit ---
# Verifies checkpoints signed before issue 20 (HMAC); new checkpoints are signed with Ed25519.
QUORUM_AUDIT_HMAC_KEY = os.environ.get("QUORUM_AUDIT_HMAC_KEY", "")
# Periodic checkpoints (Celery beat); a checkpoint is written only if events arrived since the last.
QUORUM_AUDIT_CHECKPOINT_SECONDS = float(os.environ.get("QUORUM_AUDIT_CHECKPOINT_SECONDS", "60"))

# --- Audit anchoring (issue 20): Ed25519 checkpoint keys (audit/keys.py, docs/audit.md "Keys") ---
# The signing key as PEM text (from a secret manager); unset: the key file below.
QUORUM_AUDIT_SIGNING_KEY = os.environ.get("QUORUM_AUDIT_SIGNING_KEY", "")
# The signing key's PEM file; generated on first use (mode 0600) when neither is set up.
QUORUM_AUDIT_SIGNING_KEY_FILE = os.environ.get(
    "QUORUM_AUDIT_SIGNING_KEY_FILE", str(VAR_DIR / "audit-keys" / "signing.pem")
)
# PEM files or folders of the public keys of earlier (rotated) signing keys, so old checkpoints verify.
QUORUM_AUDIT_PUBLIC_KEYS = env_list(
    "QUORUM_AUDIT_PUBLIC_KEYS", str(Path(QUORUM_AUDIT_SIGNING_KEY_FILE).parent / "public")
)
# A checkpoint right after each privileged change commits (audit/privileged.py), so a cut tail
# can only lose the ordinary events written since.
QUORUM_AUDIT_CHECKPOINT_ON_PRIVILEGED = env_bool("QUORUM_AUDIT_CHECKPOINT_ON_PRIVILEGED", True)

# --- Webhooks (webhooks) ---
# Hosts and networks (CIDRs) webhooks may reach although they are not public addresses.
QUORUM_WEBHOOK_ALLOWLIST = env_list("QUORUM_WEBHOOK_ALLOWLIST", "")
# Plain http receivers only while debugging; production (DEBUG off) delivers over https only.
QUORUM_WEBHOOK_HTTPS_ONLY = env_bool("QUORUM_WEBHOOK_HTTPS_ONLY", not DEBUG)
QUORUM_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_TIMEOUT_SECONDS", "10"))
# Failed attempts are retried after 30 s, 60 s, 120 s, … (at most an hour apart) for a day, then dead-lettered.
QUORUM_WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_BACKOFF_SECONDS", "30"))
QUORUM_WEBHOOK_BACKOFF_MAX_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_BACKOFF_MAX_SECONDS", "3600"))
QUORUM_WEBHOOK_RETRY_WINDOW_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_RETRY_WINDOW_SECONDS", "86400"))
QUORUM_WEBHOOK_REDISPATCH_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_REDISPATCH_SECONDS", "60"))
# Period of the sweep that sends due retries: Celery beat's, or without a broker the server's own thread.
QUORUM_WEBHOOK_SWEEP_SECONDS = float(os.environ.get("QUORUM_WEBHOOK_SWEEP_SECONDS", "30"))
# How long a worker holds a delivery while sending it (longer than the timeout); a lost worker's lapses.
QUORUM_WEBHOOK_LEASE_SECONDS = float(
    os.environ.get("QUORUM_WEBHOOK_LEASE_SECONDS", str(QUORUM_WEBHOOK_TIMEOUT_SECONDS + 30))
)

# --- Approval workflows ---
# Pending transition requests older than this expire (approvals expire per policy).
QUORUM_REQUEST_TTL_HOURS = float(os.environ.get("QUORUM_REQUEST_TTL_HOURS", str(30 * 24)))

# --- Model inventory ---
# The organisation's risk tiers, each <name>:<review interval in days>: a validation of a model in
# that tier is due for review that many days after it was done.
QUORUM_RISK_TIERS = env_list("QUORUM_RISK_TIERS", "high:180,medium:365,low:730")

# --- Retention and legal hold ---
# The organisation's retention classes, checked in order (the first that matches wins), each
# <name>:<years>[:<condition>|<condition>…]; a condition is stage=<Stage> (the version was ever in that
# stage), alias=<alias> (it ever held that alias) or governed-alias (it ever held an alias a promotion
# policy governs). A class without conditions matches every version. Retention counts from the version's
# end (deleted or archived); the purge removes nothing before it. EU AI Act Art. 18: ten years.
QUORUM_RETENTION_CLASSES = env_list(
    "QUORUM_RETENTION_CLASSES",
    "production:10:stage=Production|governed-alias,staging:5:stage=Staging,standard:1",
)
# S3 Object Lock mode of governed copies where the bucket has Object Lock: GOVERNANCE or COMPLIANCE.
QUORUM_OBJECT_LOCK_MODE = os.environ.get("QUORUM_OBJECT_LOCK_MODE", "GOVERNANCE")

# --- Periodic work (one Celery beat process) ---
CELERY_BEAT_SCHEDULE = {
    # Publishes again artifact jobs whose outbox row a broker outage or lost worker left behind.
    "artifacts-outbox-redispatch": {
        "task": "registry.artifacts.tasks.outbox_redispatch",
        "schedule": QUORUM_OUTBOX_REDISPATCH_SECONDS,
    },
    # Signs the audit chain head; writes a checkpoint only if events arrived since the last.
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint_periodic",
        "schedule": QUORUM_AUDIT_CHECKPOINT_SECONDS,
    },
    # Sends webhook deliveries that are due (retries, broker outage, lost worker).
    "webhooks-deliveries-sweep": {
        "task": "registry.webhooks.tasks.deliveries_sweep",
        "schedule": QUORUM_WEBHOOK_SWEEP_SECONDS,
    },
    # Expires pending transition requests older than QUORUM_REQUEST_TTL_HOURS.
    "workflow-requests-expire": {
        "task": "registry.workflows.tasks.transition_requests_expire_periodic",
        "schedule": float(os.environ.get("QUORUM_REQUEST_EXPIRY_SWEEP_SECONDS", "900")),
    },
}

# Logs: JSON lines (with the request id that audit events also carry) unless QUORUM_LOG_FORMAT=text.
QUORUM_LOG_FORMAT = os.environ.get("QUORUM_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "config.logging.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": QUORUM_LOG_FORMAT if QUORUM_LOG_FORMAT in ("json", "text") else "json",
            "filters": ["request_context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("QUORUM_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Sign-in and headers (issue 20; config/login_throttle.py, config/client.py) ---
# Failures from one network (IPv4 address, IPv6 /64) for usernames not known there before the
# flood backoff starts (1 s, 2 s, 4 s ... up to the maximum).
QUORUM_LOGIN_NETWORK_FREE_FAILURES = int(os.environ.get("QUORUM_LOGIN_NETWORK_FREE_FAILURES", "20"))
QUORUM_LOGIN_BACKOFF_MAX_SECONDS = int(os.environ.get("QUORUM_LOGIN_BACKOFF_MAX_SECONDS", "300"))
# A username that signed in from a network is exempt from that network's flood backoff this long.
QUORUM_LOGIN_KNOWN_NETWORK_DAYS = int(os.environ.get("QUORUM_LOGIN_KNOWN_NETWORK_DAYS", "30"))
# Reverse proxies (CIDRs) whose X-Forwarded-For and X-Request-ID are believed; default none.
QUORUM_TRUSTED_PROXIES = env_list("QUORUM_TRUSTED_PROXIES", "")
# The base of every absolute link Quorum writes (download URIs); never taken from the Host header.
QUORUM_PUBLIC_URL = os.environ.get("QUORUM_PUBLIC_URL", "http://127.0.0.1:8000")
# Failed sign-ins are audited per (username, network) and window: one event at the window's first
# failure, one with the totals when it closes (accounts.tasks, on the beat below).
QUORUM_LOGIN_AUDIT_WINDOW_SECONDS = int(os.environ.get("QUORUM_LOGIN_AUDIT_WINDOW_SECONDS", "900"))
CELERY_BEAT_SCHEDULE["accounts-sign-in-failure-windows-close"] = {
    "task": "accounts.tasks.sign_in_failure_windows_close",
    "schedule": float(os.environ.get("QUORUM_LOGIN_AUDIT_SWEEP_SECONDS", "300")),
}
_public = urlsplit(QUORUM_PUBLIC_URL)
if (
    _public.scheme not in ("http", "https")
    or not _public.netloc
    or _public.path not in ("", "/")
    or _public.query
):
    raise ImproperlyConfigured(
        f"QUORUM_PUBLIC_URL must be scheme://host[:port] (http or https, no path), got {QUORUM_PUBLIC_URL!r}."
    )
if os.environ.get("QUORUM_PUBLIC_URL") and not DEBUG:
    SECURE_SSL_HOST = _public.netloc  # the https redirect goes to the public host, not the Host header
MIDDLEWARE.insert(
    MIDDLEWARE.index("audit.middleware.RequestContextMiddleware") + 1, "config.middleware.PublicURLMiddleware"
)
# Query strings above this get a JSON 414 on API routes (gunicorn's own line limit is raised to
# match, config/gunicorn.py): a 5,000-item IN filter is about 60 KB.
QUORUM_MAX_QUERY_STRING_BYTES = int(os.environ.get("QUORUM_MAX_QUERY_STRING_BYTES", str(256 * 1024)))
MIDDLEWARE.insert(
    MIDDLEWARE.index("config.metrics.MetricsMiddleware") + 1, "config.middleware.RefusedRequestMiddleware"
)
# Native list pages: a larger `limit` is clamped to this (DRF's max_limit convention).
QUORUM_API_MAX_PAGE_SIZE = int(os.environ.get("QUORUM_API_MAX_PAGE_SIZE", "1000"))
# API tokens: created without an expiry they get the default lifetime; longer than the maximum is a 400.
QUORUM_TOKEN_DEFAULT_DAYS = int(os.environ.get("QUORUM_TOKEN_DEFAULT_DAYS", "90"))
QUORUM_TOKEN_MAX_DAYS = int(os.environ.get("QUORUM_TOKEN_MAX_DAYS", "365"))
if not 1 <= QUORUM_TOKEN_DEFAULT_DAYS <= QUORUM_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured("QUORUM_TOKEN_DEFAULT_DAYS must be between 1 and QUORUM_TOKEN_MAX_DAYS.")

# --- Sources and served bytes (artifacts; issue 19) ---
# Organisation-wide source prefixes every model may register from (a bucket all teams share by
# design). Per-model and per-team prefixes live in the database (/api/v1/models/<name>/source-prefixes).
QUORUM_SOURCE_PREFIXES = env_list("QUORUM_SOURCE_PREFIXES", "")

# --- Sign-in through the organisation's identity provider (OpenID Connect; issue 27) ---
# Issuer URL (its /.well-known/openid-configuration names the endpoints); empty: no provider.
QUORUM_OIDC_ISSUER = os.environ.get("QUORUM_OIDC_ISSUER", "").rstrip("/")
QUORUM_OIDC_CLIENT_ID = os.environ.get("QUORUM_OIDC_CLIENT_ID", "")
QUORUM_OIDC_CLIENT_SECRET = os.environ.get("QUORUM_OIDC_CLIENT_SECRET", "")
QUORUM_OIDC_SCOPES = os.environ.get("QUORUM_OIDC_SCOPES", "openid profile email groups")
# The claim carrying the user's groups, and which group value makes a member of which team (JSON).
QUORUM_OIDC_GROUP_CLAIM = os.environ.get("QUORUM_OIDC_GROUP_CLAIM", "groups")
try:
    QUORUM_OIDC_GROUP_TEAMS = json.loads(os.environ.get("QUORUM_OIDC_GROUP_TEAMS") or "{}")
except ValueError:
    raise ImproperlyConfigured(
        "QUORUM_OIDC_GROUP_TEAMS must be a JSON object of group claim value -> team name."
    )
if not isinstance(QUORUM_OIDC_GROUP_TEAMS, dict) or not all(
    isinstance(key, str) and isinstance(value, str) and value
    for key, value in QUORUM_OIDC_GROUP_TEAMS.items()
):
    raise ImproperlyConfigured(
        "QUORUM_OIDC_GROUP_TEAMS must be a JSON object of group claim value -> team name."
    )
# The audience the provider's access tokens must carry to count on the APIs; empty: they are not accepted.
QUORUM_OIDC_AUDIENCE = os.environ.get("QUORUM_OIDC_AUDIENCE", "")
QUORUM_OIDC_JWKS_CACHE_SECONDS = int(os.environ.get("QUORUM_OIDC_JWKS_CACHE_SECONDS", "300"))
# How long the provider's "this token is active" counts (RFC 7662 introspection); 0: not asked.
QUORUM_OIDC_INTROSPECTION_SECONDS = int(os.environ.get("QUORUM_OIDC_INTROSPECTION_SECONDS", "60"))
QUORUM_OIDC_INTROSPECTION_URL = os.environ.get("QUORUM_OIDC_INTROSPECTION_URL", "")
QUORUM_OIDC_TIMEOUT_SECONDS = float(os.environ.get("QUORUM_OIDC_TIMEOUT_SECONDS", "5"))
QUORUM_OIDC_SYNC_SECONDS = float(os.environ.get("QUORUM_OIDC_SYNC_SECONDS", "3600"))
# Off: only the break-glass usernames may sign in with a Quorum password (admin and HTTP Basic).
QUORUM_LOCAL_PASSWORDS = env_bool("QUORUM_LOCAL_PASSWORDS", True)
QUORUM_BREAK_GLASS_USERNAMES = env_list("QUORUM_BREAK_GLASS_USERNAMES", "")
if QUORUM_OIDC_ISSUER:
    AUTHENTICATION_BACKENDS.append("accounts.oidc.QuorumOIDCBackend")
    CELERY_BEAT_SCHEDULE["accounts-identities-sync"] = {
        "task": "accounts.tasks.identities_sync",
        "schedule": QUORUM_OIDC_SYNC_SECONDS,
    }
TEMPLATES[0]["OPTIONS"]["context_processors"].append("accounts.oidc.sign_in_context")
# mozilla-django-oidc's own names (the rest it reads through accounts.oidc.oidc_setting).
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?signin=failed"
