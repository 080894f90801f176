"""All settings, read from the environment through ticketai.env (TICKETAI_* plus the usual names).

With nothing set, TicketAI runs embedded: SQLite and a filesystem Celery broker under
TICKETAI_DATA_DIR, so `make demo` needs no server. Production sets DATABASE_URL, REDIS_URL
and SECRET_KEY (see docs/operations.md, "Configuration").
"""

import ipaddress
import re
import secrets
import zoneinfo
from pathlib import Path

from ticketai import env
from ticketai.keyfiles import generated_once

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.string("TICKETAI_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.boolean("TICKETAI_DEBUG", False)


def _secret_key() -> str:
    configured = env.raw("SECRET_KEY") or env.raw("TICKETAI_SECRET_KEY")
    if configured:
        return configured
    # Embedded mode: one random key per data directory, kept across restarts.
    key_file = generated_once(DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50).encode())
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Earlier keys, after a rotation: they still open sessions, signatures and sealed secrets they made.
SECRET_KEY_FALLBACKS = env.string_list("SECRET_KEY_FALLBACKS", []) or env.string_list(
    "TICKETAI_SECRET_KEY_FALLBACKS", []
)
ALLOWED_HOSTS = env.string_list("TICKETAI_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.string_list("TICKETAI_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "ticketai.apps.TicketAIAdminConfig",  # django.contrib.admin with a throttled sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "repair_center",
    "ml",
    "frontend",
]

MIDDLEWARE = [
    "ticketai.observability.RequestIdMiddleware",
    "ticketai.broker.BrokerUnavailableMiddleware",
    "ticketai.database.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "ticketai.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "repair_center.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ticketai.urls"
WSGI_APPLICATION = "ticketai.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide overrides of third-party templates (drf-spectacular's Swagger page).
        "DIRS": [BASE_DIR / "ticketai" / "templates"],
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

_database_url = env.string("DATABASE_URL")
DATABASES = {
    "default": env.database(_database_url) if _database_url else env.sqlite(DATA_DIR / "ticketai.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.choice(
    "TICKETAI_TIME_ZONE", "UTC", zoneinfo.available_timezones(), hint="an IANA time zone such as Europe/Paris"
)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "ticketai.staticfiles.ManifestOrPlainStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security: strict when served over HTTPS (TICKETAI_HTTPS=true behind a TLS proxy) ---
HTTPS = env.boolean("TICKETAI_HTTPS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.integer("TICKETAI_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
BEHIND_PROXY = env.boolean("TICKETAI_BEHIND_PROXY", HTTPS)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Largest request body accepted; bigger requests get 413 (repair_center.middleware).
TICKETAI_MAX_REQUEST_BYTES = env.integer("TICKETAI_MAX_REQUEST_BYTES", 20 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = TICKETAI_MAX_REQUEST_BYTES
TICKETAI_BULK_MAX_ITEMS = env.integer("TICKETAI_BULK_MAX_ITEMS", 1000, minimum=1)
TICKETAI_PAGE_SIZE = env.integer("TICKETAI_PAGE_SIZE", 50, minimum=1)


def _rate(name: str, default: str) -> str:
    value = env.string(name, default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise env.ConfigurationError(f"{name}={value!r} is not a rate; use N/s, N/min, N/hour or N/day")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "repair_center.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["repair_center.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "repair_center.api.pagination.StandardPagination",
    "PAGE_SIZE": TICKETAI_PAGE_SIZE,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "repair_center.api.search.SearchFilter",
        "repair_center.api.ordering.StableOrderingFilter",  # id last: pages never overlap
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "ticketai.exceptions.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "ticketai.parsers.JSONParser",  # DRF's, with hostile nesting answered 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Rate limits in the shared cache (ticketai/throttling.py); 429 with Retry-After when over.
    "DEFAULT_THROTTLE_CLASSES": ["ticketai.throttling.RouteThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": _rate("TICKETAI_THROTTLE_AUTH", "20/min"),
        "bulk": _rate("TICKETAI_THROTTLE_BULK", "120/min"),
        "recommendation": _rate("TICKETAI_THROTTLE_RECOMMENDATION", "1200/min"),
        "edge": _rate("TICKETAI_THROTTLE_EDGE", "600/min"),
    },
    # Client addresses come from REMOTE_ADDR, or from the proxy's X-Forwarded-For behind one;
    # never from a header any caller could set.
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TicketAI API",
    "DESCRIPTION": "Trouble-ticket ingestion and resolution recommendations for telecom networks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files: no CDN, works offline and under a strict CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status" or "kind" field; name their enums instead of hashing them.
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "repair_center.models.Ticket.Status",
        "EventKindEnum": "repair_center.models.TicketEvent.Kind",
        "ElementKindEnum": "repair_center.models.NetworkElement.Kind",
        "UpsertOutcomeEnum": "repair_center.api.serializers.UPSERT_OUTCOMES",
        # Three fields are called "action": a status action, a history entry's kind, a verdict.
        "TicketActionEnum": "repair_center.api.workflow.ACTION_CHOICES",
        "TicketChangeActionEnum": "repair_center.models.TicketChange.Action",
        "FeedbackActionEnum": "ml.models.feedback.Feedback.Action",
        "AlarmStateEnum": "repair_center.models.Alarm.State",
    },
}

# --- Celery: Redis when REDIS_URL is set, else an embedded filesystem broker ---
CELERY_BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "ticketai.embedded_broker:Transport"
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("TICKETAI_TASK_SOFT_TIME_LIMIT", 2 * 3600, minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
if REDIS_URL:
    # Redis hands an unacknowledged task (acks_late) to another worker after this long: it must outlast
    # the longest task, or a long training runs twice at once.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": max(4 * 3600, CELERY_TASK_TIME_LIMIT + 600)}
CELERY_TASK_ALWAYS_EAGER = env.boolean("TICKETAI_CELERY_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"ml.tasks.train*": {"queue": "training"}, "ml.tasks.distil*": {"queue": "training"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Outbound requests (webhooks, connectors): SSRF guard, ticketai/outbound.py ---
# Addresses, networks (CIDR) or host names that URLs may reach although they are loopback,
# private or link-local: on-premises targets. A leading "." allows a domain's subdomains.
TICKETAI_OUTBOUND_ALLOW = env.string_list("TICKETAI_OUTBOUND_ALLOW", [])
for _entry in TICKETAI_OUTBOUND_ALLOW:
    if "/" in _entry:
        try:
            ipaddress.ip_network(_entry, strict=False)
        except ValueError as _e:
            raise env.ConfigurationError(f"TICKETAI_OUTBOUND_ALLOW: {_e}") from None

# --- Connectors (pulling external ticketing systems) ---
TICKETAI_CONNECTOR_TIMEOUT_S = env.number("TICKETAI_CONNECTOR_TIMEOUT_S", 30.0, minimum=0.1)
TICKETAI_CONNECTOR_MAX_RETRIES = env.integer("TICKETAI_CONNECTOR_MAX_RETRIES", 5, minimum=0)
TICKETAI_CONNECTOR_BACKOFF_S = env.number("TICKETAI_CONNECTOR_BACKOFF_S", 1.0, minimum=0.0)
# A page is read into memory whole: a remote that ignores the page size must not exhaust the worker.
TICKETAI_CONNECTOR_MAX_PAGE_BYTES = env.integer(
    "TICKETAI_CONNECTOR_MAX_PAGE_BYTES", 64 * 1024 * 1024, minimum=1024
)

# --- Alarms (TMF642): how long they are kept, and how they become ticket events ---
TICKETAI_ALARM_RETENTION_DAYS = env.integer("TICKETAI_ALARM_RETENTION_DAYS", 30, minimum=1)
# A ticket gets the alarms of its element and site raised this long before it opened (and later ones
# until it is resolved) as events.
TICKETAI_CORRELATION_WINDOW_MINUTES = env.integer("TICKETAI_CORRELATION_WINDOW_MINUTES", 24 * 60, minimum=1)
# Alarms of one site and probable-cause family raised within this of a group's last alarm join it.
TICKETAI_GROUPING_WINDOW_MINUTES = env.integer("TICKETAI_GROUPING_WINDOW_MINUTES", 30, minimum=1)

# --- Working tickets: SLA targets per priority (hours from opening to resolution) ---
TICKETAI_SLA_HOURS = {
    "critical": env.number("TICKETAI_SLA_HOURS_CRITICAL", 4.0, minimum=0.1),
    "high": env.number("TICKETAI_SLA_HOURS_HIGH", 8.0, minimum=0.1),
    "medium": env.number("TICKETAI_SLA_HOURS_MEDIUM", 24.0, minimum=0.1),
    "low": env.number("TICKETAI_SLA_HOURS_LOW", 72.0, minimum=0.1),
}
# An open ticket is "due soon" once this share of its SLA time has passed.
TICKETAI_SLA_DUE_SOON_PERCENT = env.integer("TICKETAI_SLA_DUE_SOON_PERCENT", 75, minimum=1)
if TICKETAI_SLA_DUE_SOON_PERCENT > 99:
    raise env.ConfigurationError(
        f"TICKETAI_SLA_DUE_SOON_PERCENT={TICKETAI_SLA_DUE_SOON_PERCENT} must be at most 99"
    )

# --- ML ---
# Confidence bands of a recommendation (ml/serving/confidence.py): High from this calibrated probability up,
# Medium from the next one; below Medium the model says it is unsure and the ticket needs an expert.
TICKETAI_CONFIDENCE_HIGH = env.number("TICKETAI_CONFIDENCE_HIGH", 0.8, minimum=0.0)
TICKETAI_CONFIDENCE_MEDIUM = env.number("TICKETAI_CONFIDENCE_MEDIUM", 0.5, minimum=0.0)
if not TICKETAI_CONFIDENCE_MEDIUM <= TICKETAI_CONFIDENCE_HIGH <= 1.0:
    raise env.ConfigurationError(
        f"TICKETAI_CONFIDENCE_MEDIUM={TICKETAI_CONFIDENCE_MEDIUM} and TICKETAI_CONFIDENCE_HIGH="
        f"{TICKETAI_CONFIDENCE_HIGH} must satisfy MEDIUM <= HIGH <= 1"
    )
TICKETAI_MODEL_DIR = Path(env.string("TICKETAI_MODEL_DIR", str(DATA_DIR / "models"))).resolve()
TICKETAI_BASE_MODEL = env.string("TICKETAI_BASE_MODEL", "")  # empty: the bundled all-MiniLM-L6-v2
# A candidate replaces the champion only when its macro-F1 on the same held-out set is this much higher.
TICKETAI_PROMOTION_MARGIN = env.number("TICKETAI_PROMOTION_MARGIN", 0.01, minimum=0.0)
# A running training whose progress has not moved for this long is taken as lost (worker killed).
TICKETAI_TRAINING_STALE_S = env.integer("TICKETAI_TRAINING_STALE_S", 1800, minimum=60)

# --- Outbound webhooks (feedback.recorded, recommendation.ready) ---
TICKETAI_WEBHOOK_TIMEOUT_S = env.number("TICKETAI_WEBHOOK_TIMEOUT_S", 10.0, minimum=0.1)
# Tries per delivery (the first included) before it is marked failed.
TICKETAI_WEBHOOK_MAX_ATTEMPTS = env.integer("TICKETAI_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
# Delay before the first retry, doubled for each further one (at most an hour).
TICKETAI_WEBHOOK_BACKOFF_S = env.number("TICKETAI_WEBHOOK_BACKOFF_S", 10.0, minimum=0.0)
# Automated retraining (ml/monitoring/retraining.py, ml/monitoring/drift.py): triggers besides the
# admin-editable schedule.
TICKETAI_RETRAIN_NEW_LABELS = env.integer("TICKETAI_RETRAIN_NEW_LABELS", 500, minimum=1)
TICKETAI_DRIFT_WINDOW = env.integer("TICKETAI_DRIFT_WINDOW", 500, minimum=10)
TICKETAI_DRIFT_MIN_TICKETS = env.integer("TICKETAI_DRIFT_MIN_TICKETS", 50, minimum=1)
TICKETAI_DRIFT_LABEL_JS = env.number("TICKETAI_DRIFT_LABEL_JS", 0.1, minimum=0.0)
TICKETAI_DRIFT_UNSEEN_CODE_RATE = env.number("TICKETAI_DRIFT_UNSEEN_CODE_RATE", 0.02, minimum=0.0)
TICKETAI_DRIFT_CONFIDENCE_DROP = env.number("TICKETAI_DRIFT_CONFIDENCE_DROP", 0.1, minimum=0.0)
TICKETAI_DRIFT_ACCURACY_DROP = env.number("TICKETAI_DRIFT_ACCURACY_DROP", 0.1, minimum=0.0)
TICKETAI_DRIFT_COOLDOWN_H = env.integer("TICKETAI_DRIFT_COOLDOWN_H", 24, minimum=0)
TICKETAI_SHADOW_BATCH = env.integer("TICKETAI_SHADOW_BATCH", 500, minimum=1)

# --- Edge agents and bundles ---
# Ed25519 private key (PEM) that signs edge bundles; usually TICKETAI_BUNDLE_SIGNING_KEY_FILE.
# Empty: generated once into $TICKETAI_DATA_DIR/keys/.
TICKETAI_BUNDLE_SIGNING_KEY = env.string("TICKETAI_BUNDLE_SIGNING_KEY", "")
TICKETAI_EDGE_BUNDLE_DIR = Path(env.string("TICKETAI_EDGE_BUNDLE_DIR", str(DATA_DIR / "bundles"))).resolve()
TICKETAI_EDGE_ENROLMENT_TTL_H = env.integer("TICKETAI_EDGE_ENROLMENT_TTL_H", 72, minimum=1)
# Seconds a newly issued enrolment token waits (sealed, in the cache) for the page that shows it once.
TICKETAI_EDGE_ENROLMENT_SHOW_S = env.integer("TICKETAI_EDGE_ENROLMENT_SHOW_S", 120, minimum=1)
TICKETAI_EDGE_HEARTBEAT_S = env.integer("TICKETAI_EDGE_HEARTBEAT_S", 30, minimum=1)
TICKETAI_EDGE_MAX_BATCH = env.integer("TICKETAI_EDGE_MAX_BATCH", 5000, minimum=1)
# Seconds a web process remembers an agent token for prediction posts (0: look it up every time);
# a revoked agent can still post predictions for up to this long.
TICKETAI_EDGE_AUTH_CACHE_S = env.integer("TICKETAI_EDGE_AUTH_CACHE_S", 10, minimum=0)

# /metrics: an admin's session, or this token as `Authorization: Bearer <token>` (for Prometheus).
TICKETAI_METRICS_TOKEN = env.string("TICKETAI_METRICS_TOKEN", "")

# json (one object per line, with the request id) or plain; compose and production use json.
TICKETAI_LOG_FORMAT = env.string("TICKETAI_LOG_FORMAT", "json")
if TICKETAI_LOG_FORMAT not in ("json", "plain"):
    raise env.ConfigurationError(f"TICKETAI_LOG_FORMAT={TICKETAI_LOG_FORMAT!r} must be json or plain")
TICKETAI_LOG_LEVEL = env.choice(
    "TICKETAI_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), upper=True
)
# Celery keeps Django's logging (and so the JSON formatter and request ids) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ticketai.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "ticketai.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": TICKETAI_LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": TICKETAI_LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
