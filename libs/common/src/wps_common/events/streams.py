"""Idempotent bootstrap of the platform's JetStream streams, run at every start."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from wps_common.settings import ServiceSettings

log = logging.getLogger("wps.streams")


def stream_configs(settings: ServiceSettings) -> list[StreamConfig]:
    """The public stream (HR systems read it) and the restricted one (services only)."""
    common = {
        "storage": StorageType.FILE,
        "retention": RetentionPolicy.LIMITS,
        "discard": DiscardPolicy.OLD,
        "duplicate_window": settings.duplicate_window_seconds,
        "num_replicas": settings.stream_replicas,
    }
    return [
        StreamConfig(
            name=settings.stream_name,
            subjects=[f"{settings.subject_root}.>"],
            description="WPS Training Platform events (CloudEvents 1.0, no personal data)",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=settings.restricted_stream_name,
            subjects=[f"{settings.restricted_subject_root}.>"],
            description="Service-to-service events that carry personal data; not for HR",
            **common,  # type: ignore[arg-type]
        ),
    ]


async def ensure_streams(js: JetStreamContext, settings: ServiceSettings) -> None:
    for config in stream_configs(settings):
        await ensure_stream(js, config)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration. Safe to race."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("created stream %s on %s", config.name, config.subjects)
            return
        except BadRequestError:
            pass  # another replica created it between our two calls
    await js.update_stream(config)
