"""Structured logging with redaction: service-account tokens and secret values never reach a line."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_SENSITIVE_KEY = re.compile(r"(token|secret|password|passwd|credential|private|contents)", re.IGNORECASE)
# JWTs (service-account tokens) anywhere in a message.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# "serviceAccount.tokens": "{...}" embedded in a JSON or repr string.
_TOKENS_FIELD = re.compile(
    r'(serviceAccount\.tokens\\?["\']?\s*[:=]\s*)("(?:\\.|[^"\\])*"|\'[^\']*\'|\{[^}]*\})'
)
REDACTED = "[REDACTED]"


def redact_text(text: str) -> str:
    text = _TOKENS_FIELD.sub(lambda m: m.group(1) + '"' + REDACTED + '"', text)
    return _JWT.sub(REDACTED, text)


def redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, str):
        return redact_text(value)
    return value


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self._json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: redact_value(k, v) for k, v in vars(record).items() if k not in _RESERVED}
        msg = redact_text(record.getMessage())
        if record.exc_info:
            msg += " " + redact_text(self.formatException(record.exc_info)).replace("\n", " | ")
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        if self._json:
            doc = {"ts": ts, "level": record.levelname.lower(), "logger": record.name, "msg": msg, **fields}
            return json.dumps(doc, default=str)
        extra = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in fields.items())
        return f"{ts} {record.levelname[0]} {record.name}: {msg}" + (f" {extra}" if extra else "")


def setup(as_json: bool, verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 4 else logging.INFO)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
