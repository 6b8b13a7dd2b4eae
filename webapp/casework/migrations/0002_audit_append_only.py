"""The audit trail is append-only in the database too: UPDATE and DELETE on it raise (SQLite and PostgreSQL)."""

from django.db import migrations

SQLITE = [
    """create trigger casework_auditevent_no_update before update on casework_auditevent
       begin select raise(abort, 'the audit trail is append-only'); end""",
    """create trigger casework_auditevent_no_delete before delete on casework_auditevent
       begin select raise(abort, 'the audit trail is append-only'); end""",
]
POSTGRES = [
    """create or replace function casework_audit_append_only() returns trigger language plpgsql as $$
       begin raise exception 'the audit trail is append-only'; end $$""",
    """create trigger casework_auditevent_append_only before update or delete on casework_auditevent
       for each row execute function casework_audit_append_only()""",
    """create trigger casework_auditevent_no_truncate before truncate on casework_auditevent
       for each statement execute function casework_audit_append_only()""",
]


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE, "postgresql": POSTGRES}.get(vendor, []):
        schema_editor.execute(sql)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("drop trigger if exists casework_auditevent_no_update")
        schema_editor.execute("drop trigger if exists casework_auditevent_no_delete")
    elif vendor == "postgresql":
        schema_editor.execute("drop trigger if exists casework_auditevent_append_only on casework_auditevent")
        schema_editor.execute("drop trigger if exists casework_auditevent_no_truncate on casework_auditevent")
        schema_editor.execute("drop function if exists casework_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("casework", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
