"""A real SMTP server on loopback that records what it receives (for tests and the demo).

It speaks enough RFC 5321 for any client (smtplib, Airflow's SMTP provider): EHLO/HELO, MAIL, RCPT, DATA (with
dot-unstuffing), RSET, NOOP, QUIT.  No TLS and no authentication: it binds to 127.0.0.1 only.  Messages are
parsed with the standard library, so a test asserts on the subject, recipients and attachments that crossed
the socket.
"""

from __future__ import annotations

import email
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy

from trainset_dev.peers.localpeers import LoopbackServer


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage = field(init=False)

    def __post_init__(self):
        self.message = email.message_from_bytes(self.raw, policy=default_policy)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def attachments(self) -> dict[str, bytes]:
        return {part.get_filename(): part.get_payload(decode=True) for part in self.message.iter_attachments()}

    def html(self) -> str:
        body = self.message.get_body(("html", "plain"))
        return body.get_content() if body is not None else ""


def _address(arg: str) -> str:
    arg = arg.split(":", 1)[1].strip() if ":" in arg else arg
    return arg.split()[0].strip("<>") if arg else ""


class _SmtpSession(socketserver.StreamRequestHandler):
    """One SMTP conversation: the verbs a mail client sends, each answered as a real server would."""

    server: _SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 127.0.0.1 trainset-mailsink ESMTP")
        self.sender, self.recipients = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            verb, _, arg = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.reply("221 bye")
                return
            handler = getattr(self, f"smtp_{verb.lower()}", None) if verb.isalpha() else None
            if handler is None:
                self.reply("502 command not implemented")
            else:
                handler(arg)

    def smtp_ehlo(self, _arg: str) -> None:
        self.reply("250-127.0.0.1")
        self.reply("250-8BITMIME")
        self.reply(f"250 SIZE {self.server.sink.max_bytes}")

    def smtp_helo(self, _arg: str) -> None:
        self.reply("250 127.0.0.1")

    def smtp_mail(self, arg: str) -> None:
        self.sender, self.recipients = _address(arg), []
        self.reply("250 OK")

    def smtp_rcpt(self, arg: str) -> None:
        if self.sender is None:
            self.reply("503 need MAIL first")
            return
        self.recipients.append(_address(arg))
        self.reply("250 OK")

    def smtp_data(self, _arg: str) -> None:
        if not self.recipients:
            self.reply("503 need RCPT first")
            return
        self.reply("354 end data with <CR><LF>.<CR><LF>")
        chunks, size = [], 0
        while True:
            data_line = self.rfile.readline(1 << 20)
            if not data_line or data_line in (b".\r\n", b".\n"):
                break
            if data_line.startswith(b".."):
                data_line = data_line[1:]
            size += len(data_line)
            chunks.append(data_line)
        if size > self.server.sink.max_bytes:
            self.reply("552 message too large")
        else:
            self.server.sink.record(ReceivedMail(self.sender or "", list(self.recipients), b"".join(chunks)))
            self.reply("250 OK queued")
        self.sender, self.recipients = None, []

    def smtp_rset(self, _arg: str) -> None:
        self.sender, self.recipients = None, []
        self.reply("250 OK")

    def smtp_noop(self, _arg: str) -> None:
        self.reply("250 OK")


class _SmtpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    sink: SmtpSink


class SmtpSink(LoopbackServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_bytes: int = 50 * 1024 * 1024):
        self.messages: list[ReceivedMail] = []
        self.on_record = None  # optional callable(ReceivedMail): the peers process persists each message
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        server = _SmtpServer((host, port), _SmtpSession)
        server.sink = self
        self._serve(server)

    def record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.messages.append(mail)
        if self.on_record is not None:
            self.on_record(mail)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.messages)

    def airflow_connection(self, from_email: str = "trainset@localhost") -> str:
        """The JSON for ``AIRFLOW_CONN_SMTP_DEFAULT`` pointing Airflow's SMTP provider here (plain SMTP)."""
        import json

        return json.dumps({"conn_type": "smtp", "host": self.host, "port": self.port,
                           "extra": {"disable_ssl": True, "disable_tls": True, "from_email": from_email,
                                     "retry_limit": 1, "timeout": 10}})
