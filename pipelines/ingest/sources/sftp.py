"""``sftp``: files matching a pattern on an SFTP server (password or private key, host key pinned)."""

from __future__ import annotations

import base64
import io
import stat
from datetime import date
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Literal

from pipelines.ingest.sources.common import (
    Conn,
    FilesSource,
    Pulled,
    SourceError,
    SourceLate,
    deliverable,
    fill,
    scrub,
)
from pipelines.ingest.sources.staging import Stage

if TYPE_CHECKING:  # imported where used: a DAG importing this module pays for none of it
    import paramiko

__all__ = ["SftpSource", "pull_sftp"]


class SftpSource(FilesSource):
    """Files matching ``pattern`` in ``path`` (placeholders allowed) on an SFTP server."""

    kind: Literal["sftp"] = "sftp"
    conn_id: str


def _sftp_host_key(text: str) -> paramiko.PKey:
    import paramiko

    # "ssh-ed25519 AAAA… comment", a known_hosts line "host ssh-ed25519 AAAA…", or the bare base64
    tokens = text.split()
    typed = [i for i, t in enumerate(tokens[:-1]) if t.startswith(("ssh-", "ecdsa-", "sk-"))]
    blob = base64.b64decode(tokens[typed[0] + 1] if typed else tokens[0])
    key_type = paramiko.Message(blob).get_text()
    return paramiko.PKey.from_type_string(key_type, blob)


def _sftp_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    import paramiko

    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise SourceError("the connection's private_key is not an OpenSSH/PEM Ed25519, ECDSA or RSA private key")


def pull_sftp(feed: str, spec: SftpSource, as_of: date, conn: Conn, stage: Stage) -> Pulled:
    import paramiko

    if not conn.host:
        raise SourceError(f"connection {spec.conn_id!r} has no host")
    port = conn.port or 22
    folder = fill(spec.path, as_of)
    where = f"{conn.host}:{port}"
    client = paramiko.SSHClient()
    if conn.extra.get("host_key"):
        known = conn.host if port == 22 else f"[{conn.host}]:{port}"
        key = _sftp_host_key(str(conn.extra["host_key"]))
        client.get_host_keys().add(known, key.get_name(), key)
    else:
        client.load_system_host_keys()
    no_check = str(conn.extra.get("no_host_key_check", "false")).lower() == "true"

    class Unknown(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname, key) -> None:
            raise SourceError(
                f"{feed}: the SFTP server {where} is not a known host: put its public key in the connection's "
                "extra as host_key (or set no_host_key_check)"
            )

    client.set_missing_host_key_policy(paramiko.AutoAddPolicy() if no_check else Unknown())
    pkey = None
    if conn.extra.get("private_key"):
        pkey = _sftp_private_key(str(conn.extra["private_key"]), conn.extra.get("private_key_passphrase"))
    try:
        client.connect(
            conn.host,
            port=port,
            username=conn.login,
            password=conn.password,
            pkey=pkey,
            key_filename=conn.extra.get("key_file"),
            passphrase=conn.extra.get("private_key_passphrase"),
            timeout=float(conn.extra.get("timeout", 30)),
            allow_agent=False,
            look_for_keys=False,
        )
    except paramiko.AuthenticationException:
        raise SourceError(f"{feed}: SFTP login to {where} as {conn.login} was refused") from None
    except paramiko.BadHostKeyException:
        raise SourceError(
            f"{feed}: the SFTP server {where} presented a host key other than the configured one"
        ) from None
    except (paramiko.SSHException, OSError) as exc:
        raise SourceError(f"{feed}: cannot reach SFTP server {where}: {scrub(str(exc), conn)}") from None
    try:
        with client.open_sftp() as sftp:
            try:
                entries = sftp.listdir_attr(folder)
            except FileNotFoundError:
                entries = []
            found = sorted(
                e.filename
                for e in entries
                if stat.S_ISREG(e.st_mode or 0) and deliverable(e.filename) and fnmatchcase(e.filename, spec.pattern)
            )
            if not found and spec.required:
                raise SourceLate(f"{feed}: no file at {folder} for {as_of}")
            for name in found:
                with sftp.open(f"{folder.rstrip('/')}/{name}", "rb") as rf, stage.open(name) as wf:
                    rf.prefetch()
                    for block in iter(lambda rf=rf: rf.read(1 << 20), b""):
                        wf.write(block)
    except (paramiko.SSHException, OSError) as exc:
        raise SourceError(f"{feed}: SFTP transfer from {where}:{folder} failed: {scrub(str(exc), conn)}") from None
    finally:
        client.close()
    return Pulled(source=f"sftp {spec.conn_id} {where}:{folder} {spec.pattern}")
