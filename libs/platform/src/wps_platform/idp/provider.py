"""DevIdentityProvider: the provider served by werkzeug in a background thread (tests, launcher)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from wps_platform.idp.app import create_app
from wps_platform.idp.directory import DEFAULT_PORTAL_URL, Directory, load_directory
from wps_platform.idp.keys import Algorithm, KeyStore
from wps_platform.idp.settings import ProviderSettings

WILDCARD_HOSTS = {"", "0.0.0.0", "::"}


def _not_started(environ: object, start_response: object) -> list[bytes]:
    raise RuntimeError("the provider's app is installed right after the socket is bound")


class DevIdentityProvider:
    """A development OpenID provider on a real socket; `start()` returns once it is listening."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        issuer: str | None = None,
        var_dir: Path | str | None = None,
        audience: str = "wps-api",
        portal_url: str = DEFAULT_PORTAL_URL,
        access_token_ttl: int = 300,
        redirect_uris: Sequence[str] = (),
        refresh_token_ttl: int = 1800,
        directory_path: Path | str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._issuer = issuer.rstrip("/") if issuer else None
        self.var_dir = Path(var_dir) if var_dir is not None else None
        self.audience = audience
        self.portal_url = portal_url
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.redirect_uris = tuple(redirect_uris)
        self.directory_path = Path(directory_path) if directory_path is not None else None
        self.directory: Directory = load_directory(self.directory_path, portal_url=portal_url)
        self.keys = KeyStore(self.var_dir)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: Flask | None = None
        self.settings: ProviderSettings | None = None

    @property
    def url(self) -> str:
        """The issuer, which is also the base URL of every endpoint."""
        if self.settings is None:
            raise RuntimeError("the provider is not started")
        return self.settings.issuer

    @property
    def app(self) -> Flask:
        if self._app is None:
            raise RuntimeError("the provider is not started")
        return self._app

    def start(self) -> DevIdentityProvider:
        if self._server is not None:
            raise RuntimeError("the provider is already started")
        # Bound first, so port 0 becomes a real port before the issuer is known.
        server = make_server(self.host, self.port, _not_started, threaded=True)
        self.port = server.server_port
        url_host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        if ":" in url_host:
            url_host = f"[{url_host}]"
        self.settings = ProviderSettings(
            issuer=self._issuer or f"http://{url_host}:{self.port}",
            audience=self.audience,
            access_token_ttl=self.access_token_ttl,
            refresh_token_ttl=self.refresh_token_ttl,
            portal_url=self.portal_url,
            redirect_uris=self.redirect_uris,
            var_dir=self.var_dir,
            directory_path=self.directory_path,
        )
        self._app = create_app(self.settings, keys=self.keys, directory=self.directory)
        server.app = self._app
        self._server = server
        # A short poll interval: stop() returns promptly (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wps-idp", daemon=True
        )
        self._thread.start()
        return self

    def rotate(self, alg: Algorithm = "RS256", retire_previous: bool = False) -> str:
        """A new signing key (same as POST /admin/keys/rotate); returns its kid."""
        return self.keys.rotate(alg, retire_previous=retire_previous).kid

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> DevIdentityProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
