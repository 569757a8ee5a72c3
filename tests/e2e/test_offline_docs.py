"""/docs works on a network without internet: Swagger UI and ReDoc come from the service."""

from __future__ import annotations

import re
from typing import Any

import pytest

from wps_common.natsserver import NatsServer
from wps_common.testing import bus_settings, running_app
from wps_webhooks.main import create_app
from wps_webhooks.settings import WebhooksSettings


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_api_docs_load_nothing_from_elsewhere(
    page: str, nats_server: NatsServer, tmp_path: Any
) -> None:
    settings = WebhooksSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}",
        **bus_settings(nats_server.url),
    )
    async with running_app(create_app(settings), ready=False) as client:
        html = (await client.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            assert (await client.get(asset)).status_code == 200, asset
        assert "cdn." not in html and "googleapis" not in html
