"""Sign-in sessions, kept on the server: the browser holds only a random id in a Secure,
HttpOnly, SameSite=Lax cookie; the tokens never leave the portal."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, String, delete, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wps_common.db import Database, UTCDateTime, utcnow

COOKIE = "wps_portal_session"
ROTATE = "wps_session_rotate"  # scope flag: a new id after sign-in (no session fixation)
CLEAR = "wps_session_clear"  # scope flag: forget the session (sign-out)


class Base(DeclarativeBase):
    pass


class StoredSession(Base):
    __tablename__ = "portal_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SessionStore:
    def __init__(self, database: Database, lifetime: timedelta) -> None:
        self.database = database
        self.lifetime = lifetime

    async def create_tables(self) -> None:
        # Sessions are disposable (losing them signs people out), so the table is created
        # rather than migrated.
        async with self.database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def load(self, session_id: str) -> dict[str, Any] | None:
        async with self.database.reading() as session:
            found = await session.get(StoredSession, session_id)
            if found is None or found.expires_at < utcnow():
                return None
            return dict(found.data)

    async def save(self, session_id: str, data: dict[str, Any], *, fresh: bool) -> None:
        now = utcnow()
        async with self.database.session() as session:
            found = None if fresh else await session.get(StoredSession, session_id)
            if found is None:
                session.add(
                    StoredSession(
                        id=session_id, data=data, expires_at=now + self.lifetime, updated_at=now
                    )
                )
            else:
                found.data, found.updated_at = data, now

    async def delete(self, session_id: str) -> None:
        async with self.database.session() as session:
            await session.execute(delete(StoredSession).where(StoredSession.id == session_id))

    async def purge(self) -> int:
        async with self.database.session() as session:
            expired = await session.scalars(
                select(StoredSession.id).where(StoredSession.expires_at < utcnow())
            )
            ids = list(expired)
            if ids:
                await session.execute(delete(StoredSession).where(StoredSession.id.in_(ids)))
            return len(ids)


class ServerSessions:
    """ASGI middleware giving `request.session` a dict stored in the database (authlib keeps
    its state and PKCE verifier there too)."""

    def __init__(self, app: ASGIApp, *, store: SessionStore, secure: bool) -> None:
        self.app = app
        self.store = store
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = HTTPConnection(scope).cookies.get(COOKIE)
        loaded = await self.store.load(cookie) if cookie else None
        scope["session"] = dict(loaded or {})
        before = json.dumps(loaded, sort_keys=True, default=str) if loaded is not None else None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = await self._persist(scope, cookie if loaded is not None else None, before)
                if header:
                    MutableHeaders(scope=message).append("set-cookie", header)
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _persist(self, scope: Scope, session_id: str | None, before: str | None) -> str:
        data: dict[str, Any] = scope["session"]
        if scope.get(CLEAR):
            if session_id:
                await self.store.delete(session_id)
            return self._cookie("", max_age=0)
        if scope.get(ROTATE) and session_id:
            await self.store.delete(session_id)
            session_id = None
        if session_id is None:
            if not data:
                return ""
            session_id = secrets.token_urlsafe(32)
            await self.store.save(session_id, data, fresh=True)
            return self._cookie(session_id, max_age=int(self.store.lifetime.total_seconds()))
        if json.dumps(data, sort_keys=True, default=str) != before:
            await self.store.save(session_id, data, fresh=False)
        return ""

    def _cookie(self, value: str, *, max_age: int) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly", "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
