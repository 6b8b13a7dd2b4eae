"""An alert keeps at most the policy's number of evidence rows (delivery.yaml max_evidence_items); how many
it left out is shown on its page (另有 N 条)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("casework", "0002_audit_append_only")]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="evidence_omitted",
            field=models.IntegerField(default=0, verbose_name="未列出的证据条数"),
        ),
    ]
