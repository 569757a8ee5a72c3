"""The clock a request reads: "now" and "today" come from the service runtime's clock (which
tests replace), never from the wall clock. Routes take `Now` or `Today` and pass the value to
service functions; service functions never read a clock themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Request

from wps_common.runtime import ServiceRuntime

__all__ = ["Now", "Today", "now_of", "today_by", "today_of"]


def now_of(request: Request) -> datetime:
    """Now by the runtime's clock (replaceable in tests)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime.clock()


def today_of(request: Request) -> date:
    """Today by the runtime's clock (replaceable in tests)."""
    return now_of(request).date()


def today_by(runtime: ServiceRuntime) -> Callable[[], date]:
    """Today for work outside a request (event handlers, jobs), read from the runtime's clock
    at each call, so a clock replaced later is still the one read."""
    return lambda: runtime.clock().date()


Now = Annotated[datetime, Depends(now_of)]
Today = Annotated[date, Depends(today_of)]
