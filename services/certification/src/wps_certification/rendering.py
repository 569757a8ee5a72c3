"""PDF rendering off the event loop (a process pool), cached by content with an ETag."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from multiprocessing import get_context

from wps_certification.pdf import CertificateDocument, render_certificate
from wps_common.metrics import ServiceMetrics


class Renderer:
    """xhtml2pdf holds a process-wide lock, so throughput comes from processes, not threads.

    The cache key is the document itself: any change of status, language or data renders anew,
    and the ETag is the hash of that document (rendering is deterministic).
    """

    def __init__(
        self, workers: int, cache_entries: int = 256, metrics: ServiceMetrics | None = None
    ) -> None:
        self.workers = workers
        self.cache_entries = cache_entries
        self._render_seconds = metrics.pdf_renders() if metrics is not None else None
        self._pool: ProcessPoolExecutor | None = None
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    @staticmethod
    def etag(doc: CertificateDocument) -> str:
        digest = hashlib.sha256(repr(astuple(doc)).encode()).hexdigest()[:32]
        return f'"{digest}"'

    async def render(self, doc: CertificateDocument) -> tuple[bytes, str]:
        tag = self.etag(doc)
        cached = self._cache.get(tag)
        if cached is not None:
            self._cache.move_to_end(tag)
            return cached, tag
        started = time.perf_counter()
        if self.workers == 0:
            pdf = await asyncio.to_thread(render_certificate, doc)
        else:
            if self._pool is None:
                # spawn: forking a process that runs an event loop and threads is unsafe.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
            pdf = await asyncio.get_running_loop().run_in_executor(
                self._pool, render_certificate, doc
            )
        if self._render_seconds is not None:
            self._render_seconds.observe(time.perf_counter() - started)
        if self.cache_entries:
            self._cache[tag] = pdf
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return pdf, tag

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
