"""A minimal HR-system webhook receiver: verifies Standard Webhooks signatures, and nothing more.

    WEBHOOK_SECRET=whsec_… python examples/hr_webhook_receiver.py --port 8080

Needs only the Python standard library and `pip install standardwebhooks` (libraries for other
languages verify the same way: https://www.standardwebhooks.com).

- verifies `webhook-signature` over `webhook-id`, `webhook-timestamp` and the raw body with the
  subscription's secret (the `whsec_…` the platform returned when the subscription was made; a
  secret chosen before Standard Webhooks works as `whsec_` + its base64),
- refuses a missing or malformed header with 400, a wrong signature or a timestamp more than
  five minutes off with 401 (the library checks both), so a captured request cannot be replayed
  later,
- idempotent: remembers handled `webhook-id`s (here in a small SQLite file) and answers a
  repeated delivery with 200 without applying it again — the platform retries until it gets a
  2xx, so the same event can arrive twice,
- answers quickly: a slow receiver is retried as a failed one.

Replace `apply()` with the HR system's own update (mark training done, flag expiring ones…).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

MAX_BODY = 1_048_576


def apply(event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    print(
        f"{event.get('time')}  {event.get('type')}  employee={data.get('employee_number')}  "
        f"id={event.get('id')}",
        flush=True,
    )


class Seen:
    """webhook-ids already handled, kept across restarts."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (webhook_id TEXT PRIMARY KEY)")
        self.lock = threading.Lock()

    def handled(self, webhook_id: str) -> bool:
        with self.lock:
            row = self.db.execute("SELECT 1 FROM seen WHERE webhook_id = ?", (webhook_id,))
            return row.fetchone() is not None

    def remember(self, webhook_id: str) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (webhook_id,))


def handler_for(webhook: Webhook, seen: Seen) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413, "too large")
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                event = webhook.verify(body, headers)
            except WebhookVerificationError as exc:
                missing = "missing" in str(exc).lower() or "invalid" in str(exc).lower()
                return self.answer(400 if missing else 401, str(exc))
            except ValueError:  # a signature header that is not "v1,<base64>", or not JSON
                return self.answer(400, "malformed signature header or body")
            webhook_id = headers["webhook-id"]
            if seen.handled(webhook_id):
                return self.answer(200, "already handled")
            apply(event)
            seen.remember(webhook_id)  # after applying: a crash in between means a retry
            return self.answer(204, "")

        def answer(self, status: int, text: str) -> None:
            if status >= 400:
                print(f"refused ({status}): {text}", file=sys.stderr, flush=True)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per event from apply() is enough

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--seen", default="hr_webhooks_seen.sqlite3", help="SQLite file")
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        parser.error("set WEBHOOK_SECRET to the subscription's secret (whsec_…)")
    server = HTTPServer((args.host, args.port), handler_for(Webhook(secret), Seen(args.seen)))
    print(f"listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
