"""Django settings of the casework application (个案处置).

Everything that differs between a county's production and the quick start comes from the environment:

- ``DOUDI_CASEWORK_DB``: the store, as a URL. ``postgresql://user:password@host:5432/db`` in production;
  the default is the embedded SQLite file ``var/casework.sqlite3``.
- ``DOUDI_SECRET_KEY``: the session-signing key. Without it a random key is created once in
  ``<store dir>/secret_key`` (never in the repository).
- ``DOUDI_ALLOWED_HOSTS`` (comma separated, default ``localhost,127.0.0.1``), ``DOUDI_DEBUG=1``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

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
    "webapp.casework",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
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
