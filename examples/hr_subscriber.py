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

Replace `apply()` with the HR system's own update (mark training done, flag expiring ones…).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
from datetime import UTC, datetime

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

INTERESTING = [
    "training.enrolment.track.completed",
    "training.certification.certificate.>",
    "training.enrolment.compliance.changed",
    # A trainee import announces its compliance changes in one summary (counts, no people):
    # ask GET /v1/compliance?academy_id=…&changed_since=… for who changed (README, HR section).
    "training.enrolment.compliance.summarised",
]


def apply(event: dict[str, object]) -> None:
    data = event["data"]
    assert isinstance(data, dict)
    print(f"{event['time']}  {event['type']}  employee={data.get('employee_number')}")


async def run(
    nats_url: str,
    durable: str,
    since: datetime | None,
    once: bool,
    user: str | None = None,
    password: str | None = None,
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
            try:
                messages = await subscription.fetch(100, timeout=1 if once else 5)
            except nats.errors.TimeoutError:
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
    args = parser.parse_args()
    asyncio.run(run(args.nats, args.durable, args.since, args.once, args.user, args.password))


if __name__ == "__main__":
    main()
