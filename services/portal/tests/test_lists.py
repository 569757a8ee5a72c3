"""Lists a page shows whole (a trainee's history, an enrolment's results, a module's versions)
are read page after page, each after the previous page's cursor, until the service says the
list ends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from starlette.requests import Request

from wps_portal.backend import Backend
from wps_portal.settings import PortalSettings
from wps_portal.web import every_item

ENTRIES = [{"id": n} for n in range(1, 6)]


def _history_double(asked: list[dict[str, str]]) -> httpx.MockTransport:
    """A history of five entries in pages of two, the cursor naming the last entry given."""

    def answer(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        asked.append(params)
        after = int(params.get("cursor", "0"))
        items = [e for e in ENTRIES if e["id"] > after][:2]
        following = str(items[-1]["id"]) if items[-1]["id"] < ENTRIES[-1]["id"] else None
        page = {"items": items, "total": 5, "limit": 2, "offset": 0, "next_cursor": following}
        return httpx.Response(200, json=page)

    return httpx.MockTransport(answer)


async def test_a_list_is_read_page_after_page_by_cursor(tmp_path: Any) -> None:
    asked: list[dict[str, str]] = []
    settings = PortalSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/portal.db")
    backend = Backend(settings, http=httpx.AsyncClient(transport=_history_double(asked)))
    app = SimpleNamespace(state=SimpleNamespace(backend=backend))
    request = Request(
        {"type": "http", "app": app, "headers": [], "query_string": b"", "session": {}}
    )
    try:
        items = await every_item(request, "enrolment", "/v1/trainees/t-1/history", {"q": "x"})
    finally:
        await backend.aclose()
    assert items == ENTRIES
    assert [a.get("cursor") for a in asked] == [None, "2", "4"]
    assert {a["limit"] for a in asked} == {"500"} and {a["q"] for a in asked} == {"x"}
