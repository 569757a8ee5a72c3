"""Serving an app over HTTP with uvicorn, drained on SIGTERM (docs/operations.md)."""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from wps_common.settings import ServiceSettings

# uvicorn's exit status when the app could not start (as `uvicorn.run` uses it).
STARTUP_FAILURE = 3


class _DrainingServer(uvicorn.Server):
    """Tells the app at the signal itself, before uvicorn closes its listener and waits for
    the requests in flight: the service's background work can drain meanwhile."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_signal = on_signal

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.on_signal is not None:
            self.on_signal()
        super().handle_exit(sig, frame)


def run_server(app: FastAPI, **options: Any) -> None:
    """`uvicorn.run(app, **options)`, with a drain on SIGTERM or Ctrl-C.

    uvicorn stops accepting connections and gives the requests in flight the grace period of
    the app's settings (WPS_SHUTDOWN_GRACE_SECONDS); the app's lifespan then stops its
    background work (a service's runtime has begun draining at the signal). The process then
    exits with status 0: it stopped as asked.
    """
    settings: ServiceSettings = app.state.settings
    grace = math.ceil(settings.shutdown_grace_seconds)
    runtime = getattr(app.state, "runtime", None)
    config = uvicorn.Config(app, timeout_graceful_shutdown=grace, **options)
    server = _DrainingServer(config, getattr(runtime, "request_drain", None))
    # uvicorn raises the signal again once it has shut down, to end the process the way the
    # signal would have; after a complete drain that is a normal exit.
    previous = signal.signal(signal.SIGTERM, _stopped_as_asked)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _stopped_as_asked(sig: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
