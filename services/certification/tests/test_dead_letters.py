"""`wps-certification dead-letters` as an operator runs it, next to the running service: a
completion whose holder never arrived is dead-lettered, listed, shown with its original event,
refused while the cause lasts, redriven once the holder's profile has arrived (two redrives at
once apply it once), and then reported as handled."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
from typing import Any

from nats.aio.client import Client as NATS

from wps_certification.main import create_app
from wps_certification.settings import CertificationSettings
from wps_common.testing import EventTap, publish_event, running_app, wait_until

from .conftest import completion, profile, stored_certificates

PROGRAM = pathlib.Path(sys.executable).parent / "wps-certification"


def environment(bus: dict[str, Any], database_url: str, var: pathlib.Path) -> dict[str, str]:
    """The variables the service itself runs with: the same database and NATS."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "CERTIFICATION_DATABASE_URL": database_url,
        "CERTIFICATION_VAR_DIR": str(var),
        "NATS_URL": bus["nats_url"],
        "WPS_STREAM_NAME": bus["stream_name"],
        "WPS_SUBJECT_ROOT": bus["subject_root"],
        "WPS_RESTRICTED_STREAM_NAME": bus["restricted_stream_name"],
        "WPS_RESTRICTED_SUBJECT_ROOT": bus["restricted_subject_root"],
    }


async def dead_letters(bus: dict[str, Any], count: int = 1) -> None:
    """Wait until the service has recorded dead letters (they go to the restricted stream)."""
    subject = f"{bus['restricted_subject_root']}.platform.deadletter.recorded"
    async with EventTap(bus["nats_url"], bus["restricted_stream_name"], [subject]) as tap:
        await tap.wait_for("deadletter.recorded", count, timeout=30)


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(PROGRAM),
        "dead-letters",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_dead_letter_is_listed_shown_and_redriven_once_its_cause_is_fixed(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> None:
    settings = CertificationSettings(
        database_url=database_url,
        render_workers=0,
        var_dir=tmp_path / "var",
        consumer_max_deliver=2,
        **bus,
    )
    env = environment(bus, database_url, tmp_path / "var")
    async with running_app(create_app(settings)):
        # The completion arrives, but the trainee's profile never did: retried, then given up.
        done = completion("trainee-dl")
        await publish_event(bus, done)

        await dead_letters(bus)
        status, out, err = await cli(env, "list", "--json")
        assert status == 0, err
        [letter] = json.loads(out)
        assert letter["consumer"] == "certification"
        assert letter["original_type"] == done.event_type()
        assert letter["handled"] is False and "holder trainee-dl not known" in letter["reason"]
        short = letter["id"][:8]

        status, out, _ = await cli(env, "list")
        [line] = out.splitlines()
        assert line.startswith(short) and "  open  " in line and "deliveries=2" in line

        status, out, _ = await cli(env, "show", short)
        assert status == 0
        assert f"stream       {bus['stream_name']} sequence {letter['stream_sequence']}" in out
        assert f'"id": "{letter["original_event_id"]}"' in out  # the original event itself
        assert '"trainee_id": "trainee-dl"' in out

        # Not fixed yet: the redrive fails, says why, and exits 1.
        status, out, _ = await cli(env, "redrive", short)
        assert status == 1
        assert "failed: TransientError: holder trainee-dl not known yet" in out
        assert await stored_certificates(database_url) == []

        # The cause is fixed: the profile arrives (through the running consumer).
        await publish_event(bus, profile("trainee-dl"))

        async def holder_stored() -> bool:
            return bool(await _holder(database_url, "trainee-dl"))

        await wait_until(holder_stored, what="the holder's profile")
        status, out, _ = await cli(env, "redrive", "--all", "--type", done.event_type())
        assert status == 0 and f"{short} " in out and ": redriven" in out
        assert out.splitlines()[-1] == "1 redriven, 0 already handled, 0 failed"
        [certificate] = await stored_certificates(database_url, enrolment_id=done.enrolment_id)
        assert certificate.trainee_id == "trainee-dl"

        # A second redrive is a no-op and says so.
        status, out, _ = await cli(env, "redrive", short)
        assert status == 0 and "already handled" in out
        assert len(await stored_certificates(database_url)) == 1

        status, out, _ = await cli(env, "list")
        assert " handled 20" in out.splitlines()[0]


async def test_two_redrives_at_once_apply_the_event_once(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> None:
    settings = CertificationSettings(
        database_url=database_url,
        render_workers=0,
        var_dir=tmp_path / "var",
        consumer_max_deliver=1,
        **bus,
    )
    env = environment(bus, database_url, tmp_path / "var")
    async with running_app(create_app(settings)):
        done = completion("trainee-race")
        await publish_event(bus, done)

        await dead_letters(bus)
        status, out, err = await cli(env, "list", "--json")
        [letter] = json.loads(out)
        await publish_event(bus, profile("trainee-race"))

        async def holder_stored() -> bool:
            return bool(await _holder(database_url, "trainee-race"))

        await wait_until(holder_stored, what="the holder's profile")
        results = await asyncio.gather(*(cli(env, "redrive", letter["id"]) for _ in range(2)))
        outcomes = sorted(out.splitlines()[0].rsplit(": ", 1)[1] for _, out, _ in results)
        assert outcomes == ["already handled", "redriven"], results
        assert len(await stored_certificates(database_url, enrolment_id=done.enrolment_id)) == 1


async def test_show_says_when_the_stream_no_longer_holds_the_event(
    bus: dict[str, Any], database_url: str, tmp_path: pathlib.Path
) -> None:
    settings = CertificationSettings(
        database_url=database_url,
        render_workers=0,
        var_dir=tmp_path / "var",
        consumer_max_deliver=1,
        **bus,
    )
    env = environment(bus, database_url, tmp_path / "var")
    async with running_app(create_app(settings)):
        await publish_event(bus, completion("trainee-gone"))

        await dead_letters(bus)
        status, out, err = await cli(env, "list", "--json")
        [letter] = json.loads(out)
        nc = NATS()
        await nc.connect(bus["nats_url"])
        try:
            await nc.jetstream().delete_msg(bus["stream_name"], letter["stream_sequence"])
        finally:
            await nc.close()
        status, out, _ = await cli(env, "show", letter["id"])
        assert status == 0
        assert f"no longer holds sequence {letter['stream_sequence']}" in out
        status, out, _ = await cli(env, "redrive", letter["id"])
        assert status == 1 and "no longer holds" in out
        status, _, err = await cli(env, "show", "ffffffff")
        assert status == 1 and "no dead letter 'ffffffff'" in err


async def _holder(database_url: str, trainee_id: str) -> list[Any]:
    from sqlalchemy import select

    from wps_certification.models import Holder
    from wps_common.db import Database

    db = Database(database_url)
    try:
        async with db.session() as session:
            return list(
                (await session.scalars(select(Holder).where(Holder.trainee_id == trainee_id))).all()
            )
    finally:
        await db.dispose()
