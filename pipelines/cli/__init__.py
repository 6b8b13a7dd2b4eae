"""The ``doudi`` command: generate a synthetic county, run a night, export alerts and links.

Command names, options and export columns are a public interface that counties script against:
add, never rename.

One module per command group (``common`` holds what they share: the root command, the console, the
options and the one-line failure). The order in which the commands and groups are registered
below is the order ``doudi --help`` lists them.
"""

from __future__ import annotations

import sys

from pipelines.cli.casework import (
    casework_app,
    casework_publish,
    serve,
    users_add,
    users_app,
    users_list,
    users_unlock,
)
from pipelines.cli.common import CaseworkOpt, WarehouseOpt, app, console, err
from pipelines.cli.exports import (
    AlertFormat,
    CompareFormat,
    LinkFormat,
    QuarantineFormat,
    alerts_app,
    alerts_export,
    compare_app,
    compare_export,
    deliveries_accept,
    deliveries_app,
    deliveries_export,
    links_app,
    links_confirm,
    links_explain,
    links_export,
    links_reject,
    links_review,
    quarantine_app,
    quarantine_export,
)
from pipelines.cli.monthly import report
from pipelines.cli.nightly import EXIT_SOURCE_LATE, exchange, pull, run
from pipelines.cli.policy import policy_app, policy_init
from pipelines.cli.rules import households_app, households_show, members_keys, rules_app, rules_list, rules_simulate
from pipelines.cli.synthetic import demo, generate

__all__ = [
    "AlertFormat", "CaseworkOpt", "CompareFormat", "EXIT_SOURCE_LATE", "LinkFormat", "QuarantineFormat",
    "WarehouseOpt", "alerts_app", "alerts_export", "app", "casework_app", "casework_publish", "compare_app",
    "compare_export", "console", "deliveries_accept", "deliveries_app", "deliveries_export", "demo", "err",
    "exchange", "generate", "households_app", "households_show", "links_app", "links_confirm", "links_explain",
    "links_export", "links_reject", "links_review", "main", "members_keys", "policy_app", "policy_init", "pull",
    "quarantine_app", "quarantine_export", "report", "rules_app", "rules_list", "rules_simulate", "run", "serve",
    "users_add", "users_app", "users_list", "users_unlock",
]  # fmt: skip

for _command in (generate, run, pull, exchange, report, demo, serve):
    app.command()(_command)
for _group, _name in (
    (alerts_app, "alerts"), (links_app, "links"), (deliveries_app, "deliveries"), (quarantine_app, "quarantine"),
    (households_app, "households"), (rules_app, "rules"), (compare_app, "compare"), (users_app, "users"),
    (casework_app, "casework"), (policy_app, "policy"),
):  # fmt: skip
    app.add_typer(_group, name=_name)
del _command, _group, _name


def main() -> None:  # pragma: no cover
    sys.exit(app())
