"""The shipped NATS permissions (wps_common.natsauth) on a real nats-server: HR credentials follow
`training.>` through durable consumers of their own and never reach `restricted.>`, nobody
connects anonymously, and the services' credentials do everything a service does."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.cli import _replay
from wps_common.db import Database
from wps_common.events.consumer import PermanentError
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.events.streams import ensure_streams
from wps_common.natsauth import (
    HR_USER,
    SERVICES_INBOX_PREFIX,
    SERVICES_USER,
    ServerAuth,
    connect_options,
)
from wps_common.natsserver import NatsServer
from wps_common.runtime import ServiceRuntime, Subscription
from wps_common.settings import ServiceSettings
from wps_common.testing import wait_until

from .conftest import ThingHappened, effects, metadata, outbox

REFUSED = (nats.errors.TimeoutError, TimeoutError)  # a denied request is dropped: no answer


class NameNoted(EventPayload):
    """A restricted event of the test service: it carries a name."""

    service: ClassVar[str] = "testkit"
    entity: ClassVar[str] = "person"
    action: ClassVar[str] = "noted"
    restricted: ClassVar[bool] = True

    person_id: str
    given_name: str

    def about(self) -> str:
        return f"person/{self.person_id}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server with the shipped users and permissions and the default stream names."""
    server = NatsServer(tmp_path_factory.mktemp("nats-auth"), auth=ServerAuth.generate()).start()
    yield server
    server.stop()


def services_settings(server: NatsServer, **extra: Any) -> ServiceSettings:
    assert server.auth is not None
    return ServiceSettings(
        nats_url=server.url,
        nats_user=SERVICES_USER,
        nats_password=server.auth.passwords[SERVICES_USER],
        **extra,
    )


class Connection:
    """A NATS connection that keeps what the server refused (violations arrive as async errors)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NATS | None = None

    async def open(self, **options: Any) -> NATS:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await nats.connect(
            **options, error_cb=on_error, allow_reconnect=False, connect_timeout=2
        )
        return self.nc

    async def refused(self, what: str) -> bool:
        async def seen() -> bool:
            # nats-py lower-cases the server's message, subject included.
            return any(
                what.lower() in error.lower() and "permissions violation" in error
                for error in self.errors
            )

        return await wait_until(seen, timeout=5, what=f"the server to refuse {what}")


async def as_services(server: NatsServer) -> Connection:
    connection = Connection()
    await connection.open(**connect_options(services_settings(server)))
    return connection


async def as_hr(server: NatsServer) -> Connection:
    """An HR system as it connects: the default inbox prefix, the hr user's password."""
    assert server.auth is not None
    connection = Connection()
    await connection.open(
        servers=[server.url], user=HR_USER, password=server.auth.passwords[HR_USER]
    )
    return connection


async def publish(nc: NATS, payload: EventPayload) -> CloudEvent:
    event = CloudEvent.of(payload)
    root = "restricted" if payload.restricted else "training"
    await nc.jetstream().publish(
        f"{root}.{payload.subject_suffix()}", event.to_json(), headers={"Nats-Msg-Id": event.id}
    )
    return event


async def test_nobody_connects_without_credentials(secured: NatsServer) -> None:
    assert secured.auth is not None
    attempts: list[dict[str, Any]] = [
        {},
        {"user": HR_USER, "password": "not-the-password"},
        {"user": HR_USER, "password": secured.auth.passwords[SERVICES_USER]},
    ]
    for credentials in attempts:
        with pytest.raises(Exception, match="(?i)authorization violation"):
            await nats.connect(
                secured.url,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=2,
                **credentials,
            )


async def test_hr_follows_training_with_its_own_durable_consumer(secured: NatsServer) -> None:
    services = await as_services(secured)
    hr = await as_hr(secured)
    assert services.nc is not None and hr.nc is not None
    try:
        await ensure_streams(services.nc.jetstream(), services_settings(secured))
        tag = uuid.uuid4().hex[:8]
        event = await publish(services.nc, ThingHappened(thing_id=tag))

        js = hr.nc.jetstream(timeout=2)
        assert (await js.stream_info("TRAINING")).config.name == "TRAINING"
        durable = f"hr-{tag}"
        await js.add_consumer(
            "TRAINING",
            ConsumerConfig(
                durable_name=durable,
                filter_subjects=[f"training.{ThingHappened.subject_suffix()}"],
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
            ),
        )
        subscription = await js.pull_subscribe_bind(durable=durable, stream="TRAINING")
        received: list[str] = []

        async def pulled_ours() -> bool:
            for message in await subscription.fetch(10, timeout=2):
                received.append(CloudEvent.model_validate_json(message.data).id)
                await message.ack()
            return event.id in received

        await wait_until(pulled_ours, what="the HR consumer to read the public event")

        async def all_acked() -> bool:
            info = await js.consumer_info("TRAINING", durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await wait_until(all_acked, what="the HR acks to count")
        await js.delete_consumer("TRAINING", durable)  # it may retire its own consumers
        with pytest.raises(NotFoundError):
            await js.consumer_info("TRAINING", durable)
        assert hr.errors == []
    finally:
        await services.nc.close()
        await hr.nc.close()


async def test_hr_reaches_nothing_restricted_and_publishes_nothing(secured: NatsServer) -> None:
    services = await as_services(secured)
    hr = await as_hr(secured)
    assert services.nc is not None and hr.nc is not None
    try:
        await ensure_streams(services.nc.jetstream(), services_settings(secured))
        await publish(services.nc, NameNoted(person_id="p-1", given_name="Aigerim"))
        js = hr.nc.jetstream(timeout=0.5)

        await hr.nc.subscribe("restricted.>")
        await hr.refused('subscription to "restricted.>"')
        await hr.nc.subscribe("training.>")  # events only through its durable consumers
        await hr.refused('subscription to "training.>"')

        restricted_config = ConsumerConfig(durable_name="hr-peek", ack_policy=AckPolicy.EXPLICIT)
        with pytest.raises(REFUSED):
            await js.add_consumer("TRAINING_RESTRICTED", restricted_config)
        await hr.refused("CREATE.TRAINING_RESTRICTED.hr-peek")  # DURABLE.CREATE, here
        with pytest.raises(REFUSED):
            await js.stream_info("TRAINING_RESTRICTED")
        await hr.refused("$JS.API.STREAM.INFO.TRAINING_RESTRICTED")
        with pytest.raises(REFUSED):
            await js.get_msg("TRAINING_RESTRICTED", seq=1, direct=True)
        await hr.refused("$JS.API.DIRECT.GET.TRAINING_RESTRICTED")
        with pytest.raises(REFUSED):
            await js.get_msg("TRAINING_RESTRICTED", seq=1)
        await hr.refused("$JS.API.STREAM.MSG.GET.TRAINING_RESTRICTED")

        # The services' own consumers on the public stream are not the HR system's to pull from.
        with pytest.raises(REFUSED):
            await js.consumer_info("TRAINING", "enrolment")
        await hr.refused("$JS.API.CONSUMER.INFO.TRAINING.enrolment")
        with pytest.raises(REFUSED):
            await js.add_consumer(
                "TRAINING",
                ConsumerConfig(durable_name="certification", ack_policy=AckPolicy.EXPLICIT),
            )
        await hr.refused("CREATE.TRAINING.certification")
        with pytest.raises(REFUSED):
            await hr.nc.request("$JS.API.CONSUMER.MSG.NEXT.TRAINING.webhooks", b"1", timeout=0.5)
        await hr.refused("$JS.API.CONSUMER.MSG.NEXT.TRAINING.webhooks")
        await hr.nc.publish("$JS.ACK.TRAINING.enrolment.1.1.1.0.0")  # a forged ack
        await hr.refused("$JS.ACK.TRAINING.enrolment.1.1.1.0.0")

        forged = CloudEvent.of(ThingHappened(thing_id="forged")).to_json()
        await hr.nc.publish(f"training.{ThingHappened.subject_suffix()}", forged)
        await hr.refused(f'publish to "training.{ThingHappened.subject_suffix()}"')
        await hr.nc.publish(f"restricted.{NameNoted.subject_suffix()}", forged)
        await hr.refused(f'publish to "restricted.{NameNoted.subject_suffix()}"')
        with pytest.raises(REFUSED):
            await js.delete_stream("TRAINING")
        await hr.refused("$JS.API.STREAM.DELETE.TRAINING")
    finally:
        await services.nc.close()
        await hr.nc.close()


async def test_hr_cannot_overhear_what_the_services_pull(secured: NatsServer) -> None:
    """An HR client may subscribe to `_INBOX.>` (its replies arrive there); the services take
    theirs on a private prefix, so a restricted message they pull never reaches it."""
    services = await as_services(secured)
    hr = await as_hr(secured)
    assert services.nc is not None and hr.nc is not None
    try:
        js = services.nc.jetstream()
        await ensure_streams(js, services_settings(secured))
        overheard: list[bytes] = []

        async def keep(message: Any) -> None:
            overheard.append(message.data)

        await hr.nc.subscribe("_INBOX.>", cb=keep)
        await hr.nc.flush()
        secret = f"Secret-{uuid.uuid4().hex[:8]}"
        await publish(services.nc, NameNoted(person_id="p-2", given_name=secret))
        durable = f"svc-{uuid.uuid4().hex[:8]}"
        await js.add_consumer(
            "TRAINING_RESTRICTED",
            ConsumerConfig(
                durable_name=durable,
                filter_subjects=[f"restricted.{NameNoted.subject_suffix()}"],
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
        subscription = await js.pull_subscribe_bind(durable=durable, stream="TRAINING_RESTRICTED")
        pulled: list[bytes] = []

        async def pulled_it() -> bool:
            for message in await subscription.fetch(10, timeout=2):
                pulled.append(message.data)
                await message.ack()
            return any(secret.encode() in data for data in pulled)

        await wait_until(pulled_it, what="the services to pull the restricted event")
        # The answer to a request of its own comes after anything routed to it before.
        await hr.nc.jetstream().stream_info("TRAINING")

        async def own_answer_seen() -> bool:
            return any(b"stream_info_response" in data for data in overheard)

        await wait_until(own_answer_seen, what="the HR client's own answer")
        assert not [data for data in overheard if secret.encode() in data]
        assert all(SERVICES_INBOX_PREFIX not in error for error in services.errors)
    finally:
        await services.nc.close()
        await hr.nc.close()


async def test_services_credentials_run_relay_consumers_dead_letters_and_replay(
    secured: NatsServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    db = Database(url)
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    settings = services_settings(
        secured,
        database_url=url,
        service_name="testkit",
        auto_migrate=False,
        relay_poll_seconds=0.1,
        consumer_nak_delays=(0.1,),
    )
    tag = uuid.uuid4().hex[:8]

    async def record(session: AsyncSession, payload: Any, event: CloudEvent) -> None:
        key = payload.thing_id if isinstance(payload, ThingHappened) else payload.person_id
        if key.startswith("poison"):
            raise PermanentError("rejected on purpose")
        await session.execute(effects.insert().values(thing_id=key))

    runtime = ServiceRuntime(
        settings=settings,
        outbox=outbox,
        migrations=tmp_path,
        subscriptions=[
            Subscription({ThingHappened: record}),
            Subscription({NameNoted: record}, restricted=True),
        ],
    )
    since = datetime.now(UTC) - timedelta(seconds=1)
    await runtime.start()
    try:
        async with db.session() as session:
            await outbox.add(session, ThingHappened(thing_id=f"public-{tag}"))
            await outbox.add(session, ThingHappened(thing_id=f"poison-{tag}"))
            await outbox.add(session, NameNoted(person_id=f"person-{tag}", given_name="Aigerim"))

        async def both_applied() -> bool:
            async with db.session() as session:
                found = set((await session.scalars(select(effects.c.thing_id))).all())
            return {f"public-{tag}", f"person-{tag}"} <= found

        await wait_until(both_applied, what="the public and the restricted event to be handled")

        async def dead_lettered() -> bool:
            return sum(consumer.stats.dead_lettered for consumer in runtime.consumers) == 1

        await wait_until(dead_lettered, what="the rejected event's dead letter to be published")
        assert (await runtime.readiness())["nats"] == "ok"
    finally:
        await runtime.stop()

    report = await _replay(settings, outbox, since, None)  # the CLI's own connection
    assert (report.considered, report.duplicates) == (3, 3)
    await db.dispose()


def test_connect_options_carry_the_credentials_that_are_set() -> None:
    bare = connect_options(ServiceSettings(nats_url="nats://a:4222, nats://b:4222"))
    assert bare == {
        "servers": ["nats://a:4222", "nats://b:4222"],
        "inbox_prefix": SERVICES_INBOX_PREFIX,
    }
    signed_in = connect_options(ServiceSettings(nats_user="services", nats_password="pw"))
    assert (signed_in["user"], signed_in["password"]) == ("services", "pw")
    assert connect_options(ServiceSettings(nats_token="tok"))["token"] == "tok"
    with pytest.raises(ValueError, match="NATS_USER"):
        connect_options(ServiceSettings(nats_password="pw"))
    hidden = ServiceSettings(nats_user="services", nats_password="pw")
    assert isinstance(hidden.nats_password, SecretStr) and "pw" not in repr(hidden)


def test_make_run_keeps_its_passwords_private_and_reuses_them(tmp_path: Path) -> None:
    path = tmp_path / "nats" / "credentials.json"
    first = ServerAuth.load_or_create(path)
    assert set(first.passwords) == {SERVICES_USER, HR_USER}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ServerAuth.load_or_create(path).passwords == first.passwords
    assert first.environment().keys() == {"NATS_SERVICES_PASSWORD", "NATS_HR_PASSWORD"}
    assert all(password[0].isalpha() for password in first.passwords.values())
