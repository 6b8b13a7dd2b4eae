"""The caseworker web application (Django): the queue where township caseworkers work their alerts.

See ``webapp/README.md``. :func:`setup` configures Django for a process that is not the web server
(the night's publish step, ``doudi users``); it is a no-op once Django is configured.
"""

from __future__ import annotations

import os

__all__ = ["setup"]


def setup(db_url: str | None = None) -> None:
    """Configure Django on the casework store at ``db_url`` (or ``DOUDI_CASEWORK_DB``, or the default)."""
    from django.conf import settings

    if settings.configured:
        if db_url and getattr(settings, "DB_URL", None) != db_url:
            from pipelines.core.errors import DoudiError

            raise DoudiError("this process already uses another casework store; run the publish in its own process")
        import django

        django.setup()
        return
    if db_url:
        os.environ["DOUDI_CASEWORK_DB"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()


def migrate(verbosity: int = 0) -> None:
    """Create or upgrade the casework store's tables (Django migrations)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)
