"""Small HTTP helpers shared by the REST providers (Azure Key Vault, Vault): TLS contexts and a request
with retries that honours Retry-After on 429 and backs off on 5xx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

from secrets_store_csi.providers import metrics
from secrets_store_csi.providers.errors import ErrorCode, ProviderError

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str = ""
    ca_dir: str = ""
    client_cert: str = ""
    client_key: str = ""
    skip_verify: bool = False


def ssl_context(opts: TlsOptions) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if opts.ca_file or opts.ca_dir:
        try:
            ctx.load_verify_locations(cafile=opts.ca_file or None, capath=opts.ca_dir or None)
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError(
                ErrorCode.INVALID_PARAMETER,
                f"cannot load CA from {opts.ca_file or opts.ca_dir}: {type(exc).__name__}",
            ) from exc
    if opts.client_cert:
        try:
            ctx.load_cert_chain(opts.client_cert, opts.client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise ProviderError(
                ErrorCode.INVALID_PARAMETER,
                f"cannot load client certificate {opts.client_cert}: {type(exc).__name__}",
            ) from exc
    if opts.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def retry_after(headers: dict[str, str], attempt: int) -> float:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        with contextlib.suppress(ValueError):
            return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    return min(0.2 * 2.0**attempt, 5.0) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    provider: str,
    operation: str,
    obj: str | None = None,
    attempts: int = 4,
    ssl_ctx: ssl.SSLContext | bool = True,
    server_hostname: str | None = None,
    **kwargs: Any,
) -> Response:
    """One REST call with retries; 429 waits for Retry-After. Network failures become BackendUnavailable."""
    last: Response | None = None
    for attempt in range(attempts):
        metrics.BACKEND_CALLS.labels(provider, operation).inc()
        log.debug("backend call %s %s", provider, operation)
        try:
            extra: dict[str, Any] = {"server_hostname": server_hostname} if server_hostname else {}
            async with session.request(method, url, ssl=ssl_ctx, **extra, **kwargs) as resp:
                headers = dict(resp.headers)
                try:
                    body: Any = await resp.json(content_type=None)
                except ValueError:
                    body = None
                last = Response(resp.status, headers, body)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ProviderError(
                ErrorCode.UNAVAILABLE, f"{operation}: TLS certificate not trusted", obj
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            if attempt + 1 == attempts:
                raise ProviderError(
                    ErrorCode.UNAVAILABLE, f"{operation}: backend unreachable ({type(exc).__name__})", obj
                ) from exc
            await asyncio.sleep(retry_after({}, attempt))
            continue
        if last.status not in RETRY_STATUSES or attempt + 1 == attempts:
            return last
        wait = retry_after(headers, attempt)
        log.info("%s %s answered %d: retrying in %.1fs", provider, operation, last.status, wait)
        await asyncio.sleep(wait)
    assert last is not None
    return last
