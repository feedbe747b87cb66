"""The local peers of ``make up`` as one long-lived process: S3, Slack, SMTP and a page of every message sent.

``make demo`` and the tests start the peers of ``trainset_dev.peers.localpeers`` / ``trainset_dev.peers.mailsink``
inside their own process; the Airflow processes of ``make up`` need them to outlive any one task, so
``python -m trainset_dev dev peers`` runs them here, bound to 127.0.0.1:

- moto's S3 server, with the buckets the project file's ``s3://`` storage roots name created at start;
- the Slack sink (incoming webhook and Web API: failure alerts, missing-upload and rework DMs);
- the SMTP sink (the PM's daily report);
- a messages page (``/``, and ``/messages.json``) listing every Slack message and e-mail, newest first.

Every message is appended to ``<state>/messages.jsonl`` (and each e-mail kept whole as ``<state>/mail/N.eml``),
so the page still shows them after a restart.  moto keeps S3 objects in memory only: they are gone after a
restart (the inspection stage then re-sends what the records DB lists as sent but the server no longer has).
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from trainset_dev.peers.localpeers import LocalS3, LoopbackServer, PeerHandler, SlackRequest, SlackSink
from trainset_dev.peers.mailsink import ReceivedMail, SmtpSink


class MessageLog:
    """Append-only JSON lines of every message the peers received; safe across threads and restarts."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.path = self.dir / "messages.jsonl"
        self.mail_dir = self.dir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _next_id(self) -> int:
        if not self.path.exists():
            return 1
        with self.path.open("rb") as fh:
            return sum(1 for _ in fh) + 1

    def _append(self, entry: dict) -> dict:
        with self._lock:
            entry = {"id": self._next_id(), "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}
            if entry["kind"] == "email":
                raw = entry.pop("raw")
                eml = self.mail_dir / f"{entry['id']}.eml"
                eml.with_suffix(".tmp").write_bytes(raw)
                eml.with_suffix(".tmp").replace(eml)
                entry["eml"] = eml.name
            # One write per line, flushed before the lock is released: a reader never sees half a line.
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            return entry

    def slack(self, request: SlackRequest) -> dict | None:
        if request.path.endswith("conversations.open"):
            return None  # the DM channel lookup, not a message
        body = request.body
        kind = "slack_webhook" if "/services/" in request.path else "slack_api"
        text = body.get("text") or "\n".join(str(b.get("text", {}).get("text", "")) for b in body.get("blocks") or []
                                             if isinstance(b, dict) and isinstance(b.get("text"), dict))
        return self._append({"kind": kind, "path": request.path, "channel": body.get("channel"), "text": text})

    def email(self, mail: ReceivedMail) -> dict:
        attachments = [{"name": name, "bytes": len(data or b"")} for name, data in mail.attachments().items()]
        return self._append({"kind": "email", "sender": mail.sender, "recipients": mail.recipients,
                             "subject": mail.subject, "text": mail.html(), "attachments": attachments,
                             "raw": mail.raw})

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def render_page(entries: list[dict]) -> str:
    esc = html.escape
    rows = []
    for e in reversed(entries):
        if e["kind"] == "email":
            files = ", ".join(f"{esc(a['name'])} ({a['bytes']:,} bytes)" for a in e.get("attachments", [])) or "none"
            head = (f"<b>e-mail</b> to {esc(', '.join(e.get('recipients', [])))} from {esc(e.get('sender', ''))}"
                    f"<br><b>subject:</b> {esc(e.get('subject', ''))}<br><b>attachments:</b> {files}"
                    f" · <a href='/mail/{esc(e['eml'])}'>whole message (.eml)</a>")
            # The report's body is HTML we generated ourselves; shown as text, never rendered.
            body = esc(e.get("text", ""))
        else:
            where = ("failure alert (incoming webhook)" if e["kind"] == "slack_webhook"
                     else f"Slack message to {esc(str(e.get('channel') or '?'))}")
            head, body = f"<b>{where}</b>", esc(e.get("text", ""))
        rows.append(f"<div class='m {esc(e['kind'])}'><div class='h'>#{e['id']} · {esc(e['at'])} · {head}</div>"
                    f"<pre>{body}</pre></div>")
    counts = {k: sum(1 for e in entries if e["kind"] == k) for k in ("slack_webhook", "slack_api", "email")}
    return ("<!doctype html><meta charset='utf-8'><title>trainset: messages</title><style>"
            "body{font:14px sans-serif;margin:2em}.m{border:1px solid #ccc;border-radius:4px;margin:.6em 0;"
            "padding:.5em}.h{color:#333}.slack_webhook{border-left:4px solid #c0392b}.slack_api{border-left:4px "
            "solid #2980b9}.email{border-left:4px solid #27ae60}pre{white-space:pre-wrap;margin:.4em 0 0}</style>"
            f"<h1>Messages trainset would have sent</h1><p>{len(entries)} messages: {counts['slack_webhook']} "
            f"failure alerts, {counts['slack_api']} Slack messages (DMs, channels), {counts['email']} e-mails. "
            "Newest first; <a href='/messages.json'>JSON</a>. Reload to see new ones.</p>" + "".join(rows))


class MessagesPage(LoopbackServer):
    def __init__(self, log: MessageLog, host: str = "127.0.0.1", port: int = 0):
        class Handler(PeerHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = urlparse(self.path).path
                if path == "/messages.json":
                    self._send(200, json.dumps(log.read(), ensure_ascii=False).encode(), "application/json")
                elif path.startswith("/mail/") and path.endswith(".eml") and "/" not in path[6:]:
                    eml = log.mail_dir / path[6:]
                    if eml.is_file():
                        self._send(200, eml.read_bytes(), "message/rfc822")
                    else:
                        self._send(404, b"not found", "text/plain")
                elif path in ("/", "/index.html"):
                    self._send(200, render_page(log.read()).encode(), "text/html; charset=utf-8")
                elif path == "/health":
                    self._send(200, b"ok", "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

        self._serve_http(host, port, Handler)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


@dataclass
class Peers:
    s3: LocalS3
    slack: SlackSink
    smtp: SmtpSink
    page: MessagesPage
    buckets: list[str]

    def stop(self) -> None:
        for peer in (self.page, self.smtp, self.slack, self.s3):
            peer.stop()


def project_buckets(config) -> list[str]:
    """The buckets the project file's s3:// storage roots name (they must exist before a task writes)."""
    roots = config.storage.model_dump().values()
    return sorted({urlparse(uri).netloc for uri in roots if uri.startswith("s3://")})


def start_peers(state_dir: Path, *, s3_port: int, slack_port: int, smtp_port: int, page_port: int,
                buckets: list[str]) -> Peers:
    log = MessageLog(state_dir)
    slack = SlackSink(port=slack_port)
    smtp = SmtpSink(port=smtp_port)
    slack.on_record = log.slack
    smtp.on_record = log.email
    s3 = LocalS3(port=s3_port).start()
    client = s3.client()
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    return Peers(s3=s3, slack=slack.start(), smtp=smtp.start(), page=MessagesPage(log, port=page_port).start(),
                 buckets=buckets)


def connection_env(*, s3_port: int, slack_port: int, smtp_port: int, host: str = "127.0.0.1") -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for aws_default, slack_alerts, slack_api and smtp_default pointing at the peers."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": f"http://{host}:{s3_port}", "region_name": "us-east-1"}}),
        "AIRFLOW_CONN_SLACK_ALERTS": json.dumps({
            "conn_type": "slackwebhook", "password": f"http://{host}:{slack_port}/services/T000/B000/webhook"}),
        "AIRFLOW_CONN_SLACK_API": json.dumps({
            "conn_type": "slack", "password": "xoxb-local-peers", "extra": {"base_url": f"http://{host}:{slack_port}/api/"}}),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": host, "port": smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "trainset@localhost",
                      "retry_limit": 1, "timeout": 10}}),
    }
