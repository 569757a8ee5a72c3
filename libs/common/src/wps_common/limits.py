"""What a request may cost before anyone knows who sent it: a body limit per route class,
enforced from Content-Length or while the body streams in, and authentication before the body
is read at all."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wps_common.auth import Verifier
from wps_common.errors import PROBLEM_BASE, PROBLEM_JSON, ProblemError, Unauthorized

# Bodies of these types are files (CSV imports); everything else is a JSON document.
UPLOAD_TYPES = ("text/csv", "text/plain", "multipart/form-data", "application/octet-stream")
VERIFIED = "wps_verified_token"


class RequestLimits:
    """ASGI middleware in front of every service.

    A request that carries a body must first present a bearer token that verifies (no service
    has an anonymous write), so an unauthenticated client cannot make a service read, let alone
    parse, a large body. The body is then read up to its route class's limit and no further:
    413 as soon as Content-Length or the bytes received exceed it. A body within the limit is
    buffered (it is at most the limit) and replayed to the application."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: Callable[[], Verifier],
        max_json_bytes: int,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes or max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            token = _bearer(headers.get("authorization", ""))
            principal = await self.verifier().verify(token)
        except ProblemError as problem:
            await _problem(scope, send, problem.status, problem.title, problem.slug, problem.detail)
            return
        scope.setdefault("state", {})[VERIFIED] = (token, principal)
        content_type = headers.get("content-type", "").lower()
        upload = content_type.startswith(UPLOAD_TYPES)
        limit = self.max_upload_bytes if upload else self.max_json_bytes
        what = "file" if upload else "request body"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, what, limit)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                await _too_large(scope, send, what, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _has_body(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return False
    headers = _headers(scope)
    length = headers.get("content-length")
    return "chunked" in headers.get("transfer-encoding", "") or (
        length is not None and length != "0"
    )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _bearer(value: str) -> str:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send a bearer token: `Authorization: Bearer <jwt>`.")
    return token.strip()


async def _too_large(scope: Scope, send: Send, what: str, limit: int) -> None:
    await _problem(
        scope,
        send,
        413,
        "Payload too large",
        "payload-too-large",
        f"The {what} is larger than the {limit:,} bytes this service accepts.",
    )


async def _problem(
    scope: Scope, send: Send, status: int, title: str, slug: str, detail: str
) -> None:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", ""),
    }
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(data)).encode()),
        # The rest of the body is not read: the connection cannot be reused for another request.
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
