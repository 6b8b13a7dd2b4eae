"""Django settings of the casework application (个案处置).

Everything that differs between a county's production and the quick start comes from the environment:

- ``DOUDI_CASEWORK_DB``: the store, as a URL. ``postgresql://user:password@host:5432/db`` in production;
  the default is the embedded SQLite file ``var/casework.sqlite3``.
- ``DOUDI_SECRET_KEY``: the session-signing key. Without it a random key is created once in
  ``<store dir>/secret_key`` (never in the repository).
- ``DOUDI_ALLOWED_HOSTS`` (comma separated, default ``localhost,127.0.0.1``), ``DOUDI_DEBUG=1``.
- ``DOUDI_TLS=1``: the application is reached over HTTPS (directly or through the county's proxy): cookies
  are ``Secure``, HTTP is redirected to HTTPS and browsers are told HSTS (``DOUDI_HSTS_SECONDS``, default a
  year; ``DOUDI_HSTS_SUBDOMAINS=1`` / ``DOUDI_HSTS_PRELOAD=1`` only when every subdomain is HTTPS too).
- ``DOUDI_PROXY=1``: behind a reverse proxy that sets ``X-Forwarded-Proto`` and ``X-Forwarded-For`` (and
  strips a client's own): the scheme and the client's address are taken from them (``DOUDI_PROXY_COUNT``
  proxies, default 1). Without it both headers are ignored, so a client cannot forge its address.
  Behind a proxy that ends TLS set both (``DOUDI_TLS=1`` alone there would redirect to HTTPS forever).
- ``DOUDI_POLICY``: the policy folder whose ``casework.yaml`` sets the login throttle and the reveal limits.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from pipelines.policy import load_casework_policy

DEFAULT_DB = "sqlite:///var/casework.sqlite3"
DB_URL = os.environ.get("DOUDI_CASEWORK_DB", DEFAULT_DB)
_db = dj_database_url.parse(DB_URL, conn_max_age=60)
if _db["ENGINE"].endswith("sqlite3"):
    # many browser tabs and a night writing: WAL, and writers take the lock at BEGIN (no upgrade deadlocks)
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    STORE_DIR = Path(_db["NAME"]).resolve().parent if _db["NAME"] != ":memory:" else Path("var").resolve()
else:
    STORE_DIR = Path(os.environ.get("DOUDI_HOME", "var")).resolve()
DATABASES = {"default": _db}


def _secret_key() -> str:
    if os.environ.get("DOUDI_SECRET_KEY"):
        return os.environ["DOUDI_SECRET_KEY"]
    path = STORE_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DOUDI_DEBUG") == "1"
ALLOWED_HOSTS = os.environ.get("DOUDI_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "axes",  # failed-login throttle (its tables are migrated with the store's)
    "webapp.casework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's, with 401 for the API; before CSRF so that a request without a session is told 401, not 403
    "webapp.casework.middleware.LoginRequiredMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.casework.middleware.NoStoreMiddleware",  # personal data is never kept in a browser or proxy cache
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]
ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
AUTH_USER_MODEL = "casework.User"
# Django's full set: not like the username or the person's name, at least 8 characters, not a common
# password, not all digits (also applied by ``doudi users add``)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "webapp.casework.passwords.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},  # Django's, in Chinese
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username and address before any check
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "casework:queue"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600  # a working day
CSRF_COOKIE_HTTPONLY = False  # the page's own script reads it for the API's POSTs
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---- the doors: login throttle, reveal limits (casework.yaml), TLS (environment) ----------------------------
CASEWORK_POLICY = load_casework_policy()
AXES_FAILURE_LIMIT = CASEWORK_POLICY.login.failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=CASEWORK_POLICY.login.cooloff_minutes)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one username from one address
AXES_RESET_ON_SUCCESS = True  # a successful login forgets the earlier failures
AXES_LOCKOUT_CALLABLE = "webapp.casework.views.login_locked_out"
AXES_CLIENT_STR_CALLABLE = "webapp.casework.views.login_client_str"  # no typed username (an ID?) in a log
AXES_ENABLE_ADMIN = False  # there is no admin site

PROXY = os.environ.get("DOUDI_PROXY") == "1"
if PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    AXES_IPWARE_PROXY_COUNT = int(os.environ.get("DOUDI_PROXY_COUNT", "1"))
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)  # X-Forwarded-For from a client is a lie we ignore

TLS = os.environ.get("DOUDI_TLS") == "1"
if TLS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DOUDI_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("DOUDI_HSTS_SUBDOMAINS") == "1"
    SECURE_HSTS_PRELOAD = os.environ.get("DOUDI_HSTS_PRELOAD") == "1"
    SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# No request line carries an ID number or a name (URLs use internal ids), and nothing logs bodies.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        # the web application's own loggers; the root logger is left to whoever runs us (doudi's CLI, gunicorn)
        "webapp": {"handlers": ["console"], "level": os.environ.get("DOUDI_LOG_LEVEL", "INFO"), "propagate": False},
        "django.db.backends": {"level": "INFO"},  # SQL with its parameters (ID numbers) is DEBUG: never shown
    },
}
