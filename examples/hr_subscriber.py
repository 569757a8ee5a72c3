"""A minimal HR-system subscriber: what an HR integration needs, and nothing more.

    NATS_USER=hr NATS_PASSWORD=… .venv/bin/python examples/hr_subscriber.py \
        --nats nats://127.0.0.1:PORT --since 2026-11-01

- signs in as the `hr` NATS user (`make run` prints its password), which may read `training.>`
  through consumers of its own and nothing else (docs/adr/0003),
- durable pull consumer on stream TRAINING (it resumes where it stopped after a restart),
- starts from a date the first time it runs (`--since`), later from its own position,
- acknowledges each event only after handling it,
- idempotent: remembers handled event ids (here in a small SQLite file), so a redelivered or
  replayed event is acknowledged without being applied twice.

- after a trainee import's `compliance.summarised` (counts, no people), asks the enrolment API
  who changed (`--api` and `HR_TOKEN`, a client-credentials token), page by page, and applies
  each row as it would a `compliance.changed` (`not_applicable`: the requirement no longer
  applies to that person).

Replace `apply()` with the HR system's own update (mark training done, flag expiring ones…).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

INTERESTING = [
    "training.enrolment.track.completed",
    "training.certification.certificate.>",
    "training.enrolment.compliance.changed",
    # A trainee import announces its compliance changes in one summary (counts, no people):
    # who changed is read from GET /v1/compliance?academy_id=…&changed_since=… (who_changed).
    "training.enrolment.compliance.summarised",
]
SUMMARISED = "org.wps-training.enrolment.compliance.summarised.v1"


def apply(event: dict[str, object]) -> None:
    data = event["data"]
    assert isinstance(data, dict)
    print(f"{event['time']}  {event['type']}  employee={data.get('employee_number')}")


def apply_change(row: dict[str, Any]) -> None:
    """One trainee's status under one requirement, from the compliance API's list."""
    print(
        f"{row['since']}  compliance  employee={row['employee_number']}  "
        f"{row['requirement_code']}={row['status']}"
    )


def who_changed(api: str, token: str, data: dict[str, Any]) -> int:
    """After a summary: every status the import changed, from the enrolment API, following
    `next_cursor` to the last page. Returns the rows applied."""
    query = {
        "academy_id": data["academy_id"],
        "changed_since": data["changed_since"],
        "limit": "500",
    }
    applied = 0
    while True:
        request = urllib.request.Request(
            f"{api.rstrip('/')}/v1/compliance?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our API)
            page = json.load(response)
        for row in page["items"]:
            apply_change(row)
            applied += 1
        if not page.get("next_cursor"):
            return applied
        query["cursor"] = page["next_cursor"]


async def next_batch(subscription: Any, wait: float) -> list[Any]:
    """Up to 100 messages, or none when none came in time. nats-py says "none" as its own
    nats.errors.TimeoutError or, in the middle of a burst, as a plain asyncio.TimeoutError:
    both are the built-in TimeoutError (Python 3.11+), and both mean "nothing yet"."""
    try:
        return list(await subscription.fetch(100, timeout=wait))
    except TimeoutError:  # nats.errors.TimeoutError and asyncio.TimeoutError alike
        return []


async def run(
    nats_url: str,
    durable: str,
    since: datetime | None,
    once: bool,
    user: str | None = None,
    password: str | None = None,
    api: str | None = None,
    token: str | None = None,
) -> None:
    nc = await nats.connect(nats_url, user=user or None, password=password or None)
    js = nc.jetstream()
    try:
        await js.consumer_info("TRAINING", durable)  # exists: resume from its position
    except NotFoundError:
        await js.add_consumer(
            "TRAINING",
            ConsumerConfig(
                durable_name=durable,
                filter_subjects=INTERESTING,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
                opt_start_time=since.isoformat() if since else None,
                max_deliver=20,
            ),
        )
    subscription = await js.pull_subscribe_bind(durable=durable, stream="TRAINING")
    seen = sqlite3.connect(f"{durable}.sqlite3")
    seen.execute("CREATE TABLE IF NOT EXISTS handled (event_id TEXT PRIMARY KEY)")
    try:
        while True:
            messages = await next_batch(subscription, 1 if once else 5)
            if not messages:
                if once:
                    return
                continue
            for message in messages:
                event = json.loads(message.data)
                with seen:  # one transaction: the effect and the record of it
                    done = seen.execute(
                        "INSERT OR IGNORE INTO handled VALUES (?)", (event["id"],)
                    ).rowcount
                    if done:
                        apply(event)
                        if event["type"] == SUMMARISED:
                            if not (api and token):
                                raise SystemExit("a summary came: pass --api and HR_TOKEN")
                            # Blocking, like any HR system's own update; an error leaves the
                            # event unacknowledged (and not recorded), so it comes again.
                            await asyncio.to_thread(who_changed, api, token, event["data"])
                await message.ack()
    finally:
        seen.close()
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nats", default="nats://127.0.0.1:4222", help="NATS URL (make run prints it)"
    )
    parser.add_argument("--durable", default="hr-example", help="this subscriber's durable name")
    parser.add_argument("--since", type=lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC))
    parser.add_argument("--once", action="store_true", help="stop when caught up")
    parser.add_argument("--user", default=os.environ.get("NATS_USER"), help="or NATS_USER")
    parser.add_argument(
        "--password",
        default=os.environ.get("NATS_PASSWORD"),
        help="or NATS_PASSWORD (better: it stays out of the process list)",
    )
    parser.add_argument(
        "--api", default=os.environ.get("WPS_API"), help="enrolment service URL, or WPS_API"
    )
    parser.add_argument(
        "--token", default=os.environ.get("HR_TOKEN"), help="or HR_TOKEN (the hr client's token)"
    )
    args = parser.parse_args()
    asyncio.run(
        run(
            args.nats,
            args.durable,
            args.since,
            args.once,
            args.user,
            args.password,
            args.api,
            args.token,
        )
    )


if __name__ == "__main__":
    main()
