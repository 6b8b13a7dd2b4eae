"""WSGI entry point (``gunicorn webapp.wsgi``; ``doudi serve`` does this)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()
