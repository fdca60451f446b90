"""File names and modes: every path a provider returns stays inside the target directory.

Checked twice: when the parameters are parsed (before any backend call) and again on the way out.
"""

from __future__ import annotations

import json
import re

from secrets_store_csi import pathrules
from secrets_store_csi.providers.errors import invalid

MAX_PATH_LEN = 1024
MAX_SEGMENT_LEN = 255
_MODE = re.compile(r"^[0-7]{4}$")


def check_relative_path(path: str, obj: str | None = None) -> str:
    """Return `path` if it is a clean relative path below the target directory, else raise InvalidParameter.

    Rejected: empty, absolute, `.`/`..` segments, empty segments (`a//b`), backslashes, NUL and
    control characters, over-long names.
    """
    what = f"file path {path!r}"
    if not path:
        raise invalid("file path is empty", obj)
    if len(path) > MAX_PATH_LEN:
        raise invalid(f"file path longer than {MAX_PATH_LEN} characters", obj)
    if pathrules.has_control_character(path):
        raise invalid("file path contains control characters", obj)
    if pathrules.has_backslash(path):
        raise invalid(f"{what} contains a backslash", obj)
    if pathrules.is_absolute(path):
        raise invalid(f"{what} is absolute: it must stay inside the mount", obj)
    for segment in pathrules.segments(path):
        if segment in ("", ".", pathrules.PARENT):
            raise invalid(f"{what} would escape or alias the mount directory (segment {segment!r})", obj)
        if len(segment) > MAX_SEGMENT_LEN:
            raise invalid(f"{what} has a segment longer than {MAX_SEGMENT_LEN} characters", obj)
    return path


def parse_file_permission(value: object, obj: str | None = None) -> int:
    """`filePermission` as upstream: a four-digit octal string such as "0640"."""
    if not isinstance(value, str) or not _MODE.match(value):
        raise invalid(f'filePermission {value!r} must be four octal digits such as "0644"', obj)
    return int(value, 8)


def parse_request_permission(permission: str) -> int:
    """MountRequest.permission: a JSON string holding the decimal mode (upstream sends "420" for 0644)."""
    if not permission:
        return 0o644
    try:
        raw = json.loads(permission)
        mode = int(raw)
    except (ValueError, TypeError) as exc:
        raise invalid(f"permission {permission!r} is not a decimal file mode") from exc
    if not 0 <= mode <= 0o7777:
        raise invalid(f"permission {permission!r} is out of range")
    return mode
