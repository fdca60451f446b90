"""ClusterCSIDriver spec -> values for the driver chart, plus the spec checks a CRD schema cannot make.

Pure functions: no I/O. The CRD refuses most bad input at admission time; `driver_values` refuses the
rest (and everything, when the cluster runs a different CRD, such as OpenShift's own) with `InvalidSpec`,
which the reconciler reports as Degraded without touching what already runs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

MANAGEMENT_STATES: Final = ("Managed", "Unmanaged", "Removed", "Force")

# OpenShift's LogLevel -> klog verbosity, the same mapping library-go operators use.
LOG_VERBOSITY: Final = {"": 2, "Normal": 2, "Debug": 4, "Trace": 6, "TraceAll": 8}

DRIVER_TYPES: Final = ("", "SecretsStore")
MIN_TOKEN_EXPIRATION: Final = 600  # the kubelet refuses shorter service-account tokens
MAX_TOKEN_EXPIRATION: Final = 315360000
MAX_REFRESH_AGE: Final = 31560000


class InvalidSpec(ValueError):
    """The spec asks for something the operator cannot do; `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class OperatorConfig:
    """What the operator adds on its own: from its flags and its values file, never from the spec."""

    namespace: str
    chart: str
    base_values: Mapping[str, Any] = field(default_factory=dict)
    rotation_enabled: bool = True
    rotation_poll_interval: str = "2m"
    token_requests: tuple[Mapping[str, Any], ...] = ()


def management_state(spec: Mapping[str, Any]) -> str:
    """The spec's managementState; an absent one means Managed (as OpenShift's operators read it)."""
    state = spec.get("managementState") or "Managed"
    if state not in MANAGEMENT_STATES:
        raise InvalidSpec(
            "InvalidManagementState",
            f"spec.managementState {state!r} is not one of {', '.join(MANAGEMENT_STATES)}",
        )
    return str(state)


def log_verbosity(level: object, field_name: str = "spec.logLevel") -> int:
    """Normal / Debug / Trace / TraceAll -> klog verbosity 2 / 4 / 6 / 8."""
    key = "" if level is None else level
    if not isinstance(key, str) or key not in LOG_VERBOSITY:
        raise InvalidSpec(
            "InvalidLogLevel", f"{field_name} {level!r} is not one of Normal, Debug, Trace, TraceAll"
        )
    return LOG_VERBOSITY[key]


def format_interval(seconds: int) -> str:
    """Seconds as a Go duration the driver's flag parses, whole minutes as `Nm` (the chart's own style)."""
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _secrets_store(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    config = spec.get("driverConfig") or {}
    if not isinstance(config, Mapping):
        raise InvalidSpec("InvalidDriverConfig", "spec.driverConfig must be an object")
    driver_type = config.get("driverType") or ""
    if driver_type not in DRIVER_TYPES:
        raise InvalidSpec(
            "InvalidDriverConfig",
            f"spec.driverConfig.driverType {driver_type!r} does not configure the secrets-store driver "
            "(use SecretsStore or leave it empty)",
        )
    secrets_store = config.get("secretsStore") or {}
    if not isinstance(secrets_store, Mapping):
        raise InvalidSpec("InvalidDriverConfig", "spec.driverConfig.secretsStore must be an object")
    return secrets_store


def _rotation(secrets_store: Mapping[str, Any], config: OperatorConfig) -> tuple[bool, str]:
    rotation = secrets_store.get("secretRotation")
    if not rotation:
        return config.rotation_enabled, config.rotation_poll_interval
    kind = rotation.get("type")
    if kind == "None":
        return False, config.rotation_poll_interval
    if kind == "Custom":
        age = (rotation.get("custom") or {}).get("minimumRefreshAge")
        if not isinstance(age, int) or isinstance(age, bool) or not 1 <= age <= MAX_REFRESH_AGE:
            raise InvalidSpec(
                "InvalidSecretRotation",
                "spec.driverConfig.secretsStore.secretRotation.custom.minimumRefreshAge must be "
                f"1..{MAX_REFRESH_AGE} seconds, got {age!r}",
            )
        return True, format_interval(age)
    raise InvalidSpec(
        "InvalidSecretRotation",
        f"spec.driverConfig.secretsStore.secretRotation.type {kind!r} is not one of None, Custom",
    )


def _token_requests(secrets_store: Mapping[str, Any], config: OperatorConfig) -> list[dict[str, Any]]:
    requests = secrets_store.get("tokenRequests")
    defaults = [dict(item) for item in config.token_requests]
    if not requests or requests.get("type") in (None, "Unmanaged"):
        return defaults
    if requests.get("type") != "Managed":
        raise InvalidSpec(
            "InvalidTokenRequests",
            f"spec.driverConfig.secretsStore.tokenRequests.type {requests.get('type')!r} "
            "is not one of Managed, Unmanaged",
        )
    audiences = (requests.get("managed") or {}).get("audiences") or []
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(audiences):
        where = f"spec.driverConfig.secretsStore.tokenRequests.managed.audiences[{index}]"
        audience = item.get("audience") if isinstance(item, Mapping) else None
        if not isinstance(audience, str):
            raise InvalidSpec("InvalidTokenRequests", f"{where}.audience must be a string")
        if audience in seen:
            raise InvalidSpec("InvalidTokenRequests", f"{where}: audience {audience!r} is listed twice")
        seen.add(audience)
        request: dict[str, Any] = {"audience": audience}
        expiration = item.get("expirationSeconds")
        if expiration is not None:
            if (
                not isinstance(expiration, int)
                or isinstance(expiration, bool)
                or not MIN_TOKEN_EXPIRATION <= expiration <= MAX_TOKEN_EXPIRATION
            ):
                raise InvalidSpec(
                    "InvalidTokenRequests",
                    f"{where}.expirationSeconds must be {MIN_TOKEN_EXPIRATION}..{MAX_TOKEN_EXPIRATION}, "
                    f"got {expiration!r}",
                )
            request["expirationSeconds"] = expiration
        result.append(request)
    return result


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def driver_values(spec: Mapping[str, Any], config: OperatorConfig) -> dict[str, Any]:
    """The values the driver chart is rendered with: the operator's base values, then the spec's."""
    management_state(spec)
    log_verbosity(spec.get("operatorLogLevel"), "spec.operatorLogLevel")
    secrets_store = _secrets_store(spec)
    enabled, interval = _rotation(secrets_store, config)
    from_spec: dict[str, Any] = {
        "logVerbosity": log_verbosity(spec.get("logLevel")),
        "enableSecretRotation": enabled,
        "rotationPollInterval": interval,
        "tokenRequests": _token_requests(secrets_store, config),
    }
    return _merge(config.base_values, from_spec)
