"""Real network peers on loopback for the demo and the tests: a Slack-compatible HTTP endpoint and an S3 server.

``SlackSink`` answers the two Slack APIs trainset uses, the incoming webhook (any POST path) and the Web API's
``chat.postMessage`` / ``conversations.open``, and records every request, so a test asserts on what really crossed
the socket.  ``fail_next`` makes it answer 503 to simulate an outage.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class SlackRequest:
    path: str
    body: dict
    headers: dict
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))


class PeerHandler(BaseHTTPRequestHandler):
    """The HTTP peers' request handler base: one way to send a reply."""

    def _send(self, code: int, data: bytes, ctype: str):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer:
    """A socketserver served from a daemon thread: the lifecycle the local peers share."""

    def _serve_http(self, host: str, port: int, handler: type[PeerHandler]) -> None:
        server = ThreadingHTTPServer((host, port), handler)
        server.daemon_threads = True
        self._serve(server)

    def _serve(self, server) -> None:
        self.server = server
        self.host, self.port = server.server_address[:2]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SlackSink(LoopbackServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: list[SlackRequest] = []
        self.failures_left = 0
        self.down = False
        self.on_record = None  # optional callable(SlackRequest): the peers process persists each message
        self._lock = threading.Lock()
        sink = self

        class Handler(PeerHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[0] for k, v in parse_qs(raw).items()}
                with sink._lock:
                    failing = sink.down or sink.failures_left > 0
                    if sink.failures_left > 0:
                        sink.failures_left -= 1
                    request = None if failing else SlackRequest(self.path, body, dict(self.headers))
                    if request is not None:
                        sink.requests.append(request)
                if request is not None and sink.on_record is not None:
                    sink.on_record(request)
                if failing:
                    self._reply(503, {"ok": False, "error": "service_unavailable"})
                elif self.path.endswith("conversations.open"):
                    self._reply(200, {"ok": True, "channel": {"id": "D" + str(body.get("users", "X"))}})
                elif "/api/" in self.path or self.path.endswith("chat.postMessage"):
                    self._reply(200, {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}",
                                      "message": {"text": body.get("text", "")}})
                else:
                    self._send(200, b"ok", "text/plain")

            def _reply(self, code: int, payload: dict):
                self._send(code, json.dumps(payload).encode(), "application/json")

        self._serve_http(host, port, Handler)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/services/T000/B000/webhook"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/api/"

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self.failures_left = count

    def messages(self, path_part: str = "") -> list[SlackRequest]:
        with self._lock:
            return [r for r in self.requests if path_part in r.path and not r.path.endswith("conversations.open")]


def airflow_connection_env(sink: SlackSink | None = None, s3_endpoint: str | None = None) -> dict[str, str]:
    """Environment variables that point Airflow's Slack and AWS connections at local peers."""
    env: dict[str, str] = {}
    if sink is not None:
        env["AIRFLOW_CONN_SLACK_ALERTS"] = json.dumps({"conn_type": "slackwebhook", "password": sink.webhook_url})
        env["AIRFLOW_CONN_SLACK_API"] = json.dumps(
            {"conn_type": "slack", "password": "xoxb-local-test-token", "extra": {"base_url": sink.api_base_url}})
    if s3_endpoint is not None:
        env["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        })
    return env


class LocalS3:
    """moto's S3-protocol server on loopback (a real HTTP server, not an in-process mock)."""

    def __init__(self, port: int = 0):
        from moto.server import ThreadedMotoServer

        if port == 0:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3:
        import logging

        # One access-log line per request (Airflow's logging config shows werkzeug at INFO) buries the summary.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")
