"""What a Mount request carries, parsed once: attributes, the nodePublishSecretRef data, pod identity,
service-account tokens, the default file mode and the versions the driver already has mounted.

Also the provider-side types every backend returns (`MountedFile`, `MountResult`) and the `Provider`
protocol the gRPC server calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from dataclasses import dataclass, field
from typing import Any, Protocol

from secrets_store_csi.providers.errors import invalid
from secrets_store_csi.providers.paths import check_relative_path, parse_request_permission

log = logging.getLogger(__name__)

POD_NAME = "csi.storage.k8s.io/pod.name"
POD_NAMESPACE = "csi.storage.k8s.io/pod.namespace"
POD_UID = "csi.storage.k8s.io/pod.uid"
SERVICE_ACCOUNT = "csi.storage.k8s.io/serviceAccount.name"
SA_TOKENS = "csi.storage.k8s.io/serviceAccount.tokens"


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    uid: str
    service_account: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class MountSpec:
    attributes: dict[str, str]
    secrets: dict[str, str]
    target_path: str
    default_mode: int
    current_versions: dict[str, str]
    pod: PodInfo
    sa_tokens: dict[str, str] = field(repr=False)

    def token_for(self, audience: str) -> str | None:
        return self.sa_tokens.get(audience)


def _json_object(raw: str, what: str) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"{what} is not valid JSON") from exc
    if value is None:  # the upstream driver sends "null" for a volume without nodePublishSecretRef
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{what} must be a JSON object")
    out: dict[str, str] = {}
    for key, item in value.items():
        out[str(key)] = item if isinstance(item, str) else json.dumps(item)
    return out


def parse_tokens(raw: str) -> dict[str, str]:
    """`csi.storage.k8s.io/serviceAccount.tokens`: JSON map audience -> {token, expirationTimestamp}."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"{SA_TOKENS} is not valid JSON") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{SA_TOKENS} must be a JSON object")
    tokens: dict[str, str] = {}
    for audience, entry in value.items():
        if isinstance(entry, dict) and isinstance(entry.get("token"), str):
            tokens[str(audience)] = entry["token"]
    return tokens


def parse_mount_request(
    attributes: str, secrets: str, target_path: str, permission: str, current: list[tuple[str, str]]
) -> MountSpec:
    attrs = _json_object(attributes, "attributes")
    return MountSpec(
        attributes=attrs,
        secrets=_json_object(secrets, "secrets"),
        target_path=target_path,
        default_mode=parse_request_permission(permission),
        current_versions=dict(current),
        pod=PodInfo(
            name=attrs.get(POD_NAME, ""),
            namespace=attrs.get(POD_NAMESPACE, ""),
            uid=attrs.get(POD_UID, ""),
            service_account=attrs.get(SERVICE_ACCOUNT, ""),
        ),
        sa_tokens=parse_tokens(attrs.get(SA_TOKENS, "")),
    )


@dataclass(frozen=True)
class MountedFile:
    path: str
    mode: int
    contents: bytes = field(repr=False)


@dataclass
class MountResult:
    files: list[MountedFile] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, mode: int, contents: bytes) -> None:
        self.files.append(MountedFile(check_relative_path(path), mode, contents))


class Provider(Protocol):
    """One backend. `mount` raises ProviderError on any failure."""

    name: str

    async def mount(self, spec: MountSpec) -> MountResult: ...

    async def close(self) -> None: ...


def check_unique(names: list[str], what: str) -> None:
    """Duplicate file names (aliases) would overwrite each other: reject them before any backend call."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise invalid(f"{what} {name!r} is used more than once")
        seen.add(name)


def parse_bool(value: str | None, what: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise invalid(f"{what} must be true or false, not {value!r}")


def object_fields(item: object, known_keys: Set[str], not_a_mapping: str) -> tuple[dict[str, Any], str]:
    """One entry of a SecretProviderClass's objects list: its fields by name and its objectName.

    Unknown keys are ignored as upstream providers ignore them, with a warning so that a typo is still
    visible in the provider's log."""
    if not isinstance(item, dict):
        raise invalid(not_a_mapping)
    fields = {str(k): v for k, v in item.items()}
    name = fields.get("objectName")
    if not isinstance(name, str) or not name:
        raise invalid("objectName is required for every object")
    unknown = set(fields) - known_keys
    if unknown:
        log.warning("object %r: ignoring unknown keys %s", name, sorted(unknown))
    return fields, name
