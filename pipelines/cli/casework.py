"""``doudi users``, ``doudi casework`` and ``doudi serve``: the caseworkers' store and web application."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli.common import CaseworkOpt, WarehouseOpt, _fail, _parse_date, _warehouse_default, console
from pipelines.core.errors import DoudiError

users_app = typer.Typer(help="Casework users: caseworkers, county officers, administrators.", no_args_is_help=True)
casework_app = typer.Typer(help="The caseworkers' store (the web application's database).", no_args_is_help=True)


def _casework(db: str | None) -> None:
    import webapp

    try:
        webapp.setup(db)
        webapp.migrate()
    except DoudiError as exc:
        _fail(exc)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Option(help="caseworker | county | admin")] = "caseworker",
    township: Annotated[str | None, typer.Option(help="caseworker's township: 9-digit code or name")] = None,
    county: Annotated[str | None, typer.Option(help="county officer's county: 6-digit code")] = None,
    name: Annotated[str, typer.Option(help="the person's name, shown in the audit trail")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    casework: CaseworkOpt = None,
) -> None:
    """Add a user (or update their role, scope and password). The password is hashed (PBKDF2)."""
    _casework(casework)
    from webapp.casework.accounts import AccountError, add_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        user = add_user(username, password, role=role, township=township, county=county, full_name=name)
    except AccountError as exc:
        _fail(exc)
    scope = (f", {user.township.name}" if user.township else "") + (
        f", county {user.county_code}" if user.county_code else ""
    )
    console.print(f"user {user.username}: {user.role}{scope}")


@users_app.command("unlock")
def users_unlock(
    username: Annotated[str, typer.Argument(help="login name paused after too many failed logins")],
    casework: CaseworkOpt = None,
) -> None:
    """Lift the login pause of a username (too many failed logins, casework.yaml login:) from every address."""
    _casework(casework)
    from axes.utils import reset

    console.print(f"user {username}: {reset(username=username)} failed-login record(s) cleared; they may log in again")


@users_app.command("list")
def users_list(casework: CaseworkOpt = None) -> None:
    """Every user with role and scope (no passwords)."""
    _casework(casework)
    from webapp.casework.models import User

    table = Table()
    for col in ["username", "name", "role", "township", "county", "active", "last login"]:
        table.add_column(col)
    for u in User.objects.select_related("township").order_by("username"):
        table.add_row(u.username, u.get_full_name(), u.role, u.township.name if u.township else "", u.county_code,
                      "yes" if u.is_active else "no", f"{u.last_login:%Y-%m-%d %H:%M}" if u.last_login else "")
    console.print(table)


@casework_app.command("publish")
def casework_publish(
    warehouse: WarehouseOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="the night (default: the warehouse's last)")] = None,
    casework: CaseworkOpt = None,
    policy: Annotated[Path | None, typer.Option(help="policy folder [env DOUDI_POLICY]")] = None,
) -> None:
    """Publish the warehouse's alerts to the casework store (what a night with --casework does last)."""
    from pipelines.core.warehouse import open_warehouse
    from pipelines.orchestration.night import step_casework
    from pipelines.policy import load_policy

    warehouse = warehouse or _warehouse_default()
    _casework(casework)
    try:
        if as_of is None:
            with open_warehouse(warehouse) as con:
                last = con.execute("select max(as_of) from int.night").fetchall()[0][0]
            if last is None:
                raise DoudiError(f"{warehouse} has no night yet: run `doudi run` first")
        night = _parse_date(as_of) if as_of else last
        console.print(step_casework(warehouse, night, casework or os.environ.get("DOUDI_CASEWORK_DB", ""),
                                    load_policy(policy)))
    except DoudiError as exc:
        _fail(exc)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="gunicorn worker processes")] = 2,
    threads: Annotated[int, typer.Option(help="threads per worker")] = 8,
    keep_alive: Annotated[
        int, typer.Option(help="seconds an idle connection is kept open (gunicorn's default of 2 s races clients "
                          "reusing it: a request sent as the server closes it gets 'connection reset')")
    ] = 30,
    casework: CaseworkOpt = None,
    ready_timeout: Annotated[
        float, typer.Option(help="seconds to wait for the server to listen before saying it did not start")
    ] = 300.0,
) -> None:
    """Start the caseworkers' web application (gunicorn) on the casework store, migrating it first.

    Its address is printed once the server is listening (port 0: a free port is chosen)."""
    _casework(casework)
    if casework:
        os.environ["DOUDI_CASEWORK_DB"] = casework
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    if host not in ("127.0.0.1", "localhost"):
        os.environ.setdefault("DOUDI_ALLOWED_HOSTS", f"{host},localhost,127.0.0.1")
    try:
        port = free_port(host) if port == 0 else _bindable(host, port)
    except OSError as exc:
        _fail(DoudiError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server there? "
                         "choose another --port)"))
    sys.stdout.flush()
    sys.stderr.flush()
    # gunicorn replaces this process (signals and exit status stay its own, as a container's PID 1 needs);
    # a forked watcher prints the address once the socket accepts connections, or says it never did
    if os.fork() == 0:
        os._exit(announce_when_listening(host, port, ready_timeout, server_pid=os.getppid()))
    args = [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
            "--keep-alive", str(keep_alive), "--access-logfile", "-", "--graceful-timeout", "5"]
    os.execv(sys.executable, args)


def free_port(host: str) -> int:
    """A port nobody listens on now (the OS's choice for port 0)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _bindable(host: str, port: int) -> int:
    """``port`` when this process could listen on it now (as gunicorn binds: SO_REUSEADDR); OSError when
    not (in use, not an address of this machine, a privileged port)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen()
    return port


def announce_when_listening(host: str, port: int, timeout: float, server_pid: int, poll: float = 0.2) -> int:
    """Print the web application's address once ``host:port`` accepts a connection; 0 then. 1 (and an
    ``error:`` line) when the server process ended or ``timeout`` seconds passed first."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((target, port), timeout=poll * 5):
                print(f"casework web application on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
                return 0
        except OSError:
            pass
        if not _alive(server_pid):
            break
        time.sleep(poll)
    print(f"error: the web application did not start listening on {host}:{port} (see the lines above)",
          file=sys.stderr, flush=True)
    return 1


def _alive(pid: int) -> bool:
    """Is ``pid`` still this watcher's parent (the server)? Its parent changes when the server ends."""
    return os.getppid() == pid
