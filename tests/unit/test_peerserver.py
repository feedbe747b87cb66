"""The local peers of `make up`: every message that crosses their sockets reaches the messages page, and stays."""

from __future__ import annotations

import json
import smtplib
import socket
import urllib.request
import uuid
from email.message import EmailMessage

from trainset_dev.peers.peerserver import connection_env, start_peers


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_alerts_dms_and_mail_are_listed_on_the_page_and_survive_a_restart(tmp_path):
    from slack_sdk import WebClient

    ports = {"s3_port": _port(), "slack_port": _port(), "smtp_port": _port(), "page_port": _port()}
    bucket = f"trainset-inspection-{uuid.uuid4().hex[:8]}"
    peers = start_peers(tmp_path, buckets=[bucket], **ports)
    try:
        env = connection_env(s3_port=ports["s3_port"], slack_port=ports["slack_port"], smtp_port=ports["smtp_port"])
        webhook = json.loads(env["AIRFLOW_CONN_SLACK_ALERTS"])["password"]
        urllib.request.urlopen(urllib.request.Request(
            webhook, data=json.dumps({"text": ":red_circle: trainset task failed"}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10).read()
        api = json.loads(env["AIRFLOW_CONN_SLACK_API"])
        WebClient(token=api["password"], base_url=api["extra"]["base_url"]).chat_postMessage(
            channel="U0DEMOKIM", text="김민지님, 미제출 7건")
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = "daily report 2026-03-17", "trainset@localhost", "pm@example.com"
        mail.set_content("key numbers")
        mail.add_attachment(b"day,class\n", maintype="text", subtype="csv", filename="progress_20260317.csv")
        with smtplib.SMTP("127.0.0.1", ports["smtp_port"], timeout=10) as smtp:
            smtp.send_message(mail)
        # moto's backend is per process (other tests' buckets show too): look for this one.
        assert bucket in [b["Name"] for b in peers.s3.client().list_buckets()["Buckets"]]
    finally:
        peers.stop()

    # A new process on the same state folder: the page lists what the first one received.
    ports = {"s3_port": _port(), "slack_port": _port(), "smtp_port": _port(), "page_port": _port()}
    peers = start_peers(tmp_path, buckets=[], **ports)
    try:
        base = f"http://127.0.0.1:{ports['page_port']}"
        entries = json.loads(_get(base + "/messages.json"))
        assert [e["kind"] for e in entries] == ["slack_webhook", "slack_api", "email"]
        assert entries[1]["channel"] == "U0DEMOKIM" and entries[1]["text"] == "김민지님, 미제출 7건"
        assert entries[2]["attachments"] == [{"name": "progress_20260317.csv", "bytes": 10}]
        page = _get(base + "/")
        assert "trainset task failed" in page and "김민지님, 미제출 7건" in page
        assert "progress_20260317.csv (10 bytes)" in page and "daily report 2026-03-17" in page
        assert "Subject: daily report 2026-03-17" in _get(base + "/mail/" + entries[2]["eml"])
    finally:
        peers.stop()
