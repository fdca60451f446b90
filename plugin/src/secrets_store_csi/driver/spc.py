"""Where SecretProviderClasses come from: the apiserver (the pod's namespace only), or a directory.

The directory source (`--secret-provider-class-dir`, files `<namespace>/<name>.yaml`) exists for running
the driver without a cluster (csi-sanity, host-level tests, benchmarks); it follows the same namespace rule.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
import yaml

from secrets_store_csi.driver import errors
from secrets_store_csi.driver.errors import DriverError
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.errors import KubeError
from secrets_store_csi.kube.paths import name_problem, spc_path


@dataclass(frozen=True)
class SecretObjectData:
    object_name: str
    key: str


@dataclass(frozen=True)
class SecretObject:
    secret_name: str
    type: str
    data: tuple[SecretObjectData, ...]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SecretProviderClass:
    namespace: str
    name: str
    provider: str
    parameters: dict[str, str]
    secret_objects: tuple[SecretObject, ...]
    uid: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def _str_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a map of strings")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def parse_spc(obj: dict[str, Any], namespace: str, name: str) -> SecretProviderClass:
    """Turn a SecretProviderClass object into the driver's view; ValueError names the bad field."""
    spec = obj.get("spec") or {}
    provider = str(spec.get("provider") or "")
    if not provider:
        raise ValueError("spec.provider is empty")
    parameters = _str_map(spec.get("parameters"), "spec.parameters")
    secret_objects = []
    for i, so in enumerate(spec.get("secretObjects") or []):
        if not isinstance(so, dict) or not so.get("secretName"):
            raise ValueError(f"spec.secretObjects[{i}].secretName is empty")
        if problem := name_problem(str(so["secretName"])):
            raise ValueError(
                f"spec.secretObjects[{i}].secretName {so['secretName']!r} is not a Secret name ({problem}); "
                "synced Secrets are created in the pod's namespace"
            )
        data = []
        for j, item in enumerate(so.get("data") or []):
            if not isinstance(item, dict) or not item.get("objectName") or not item.get("key"):
                raise ValueError(f"spec.secretObjects[{i}].data[{j}] needs objectName and key")
            data.append(SecretObjectData(str(item["objectName"]), str(item["key"])))
        secret_objects.append(
            SecretObject(
                secret_name=str(so["secretName"]),
                type=str(so.get("type") or "Opaque"),
                data=tuple(data),
                labels=_str_map(so.get("labels"), f"spec.secretObjects[{i}].labels"),
                annotations=_str_map(so.get("annotations"), f"spec.secretObjects[{i}].annotations"),
            )
        )
    return SecretProviderClass(
        namespace=namespace,
        name=name,
        provider=provider,
        parameters=parameters,
        secret_objects=tuple(secret_objects),
        uid=str((obj.get("metadata") or {}).get("uid", "")),
    )


def _not_found(namespace: str, name: str, pod: str) -> DriverError:
    return DriverError(
        grpc.StatusCode.NOT_FOUND,
        errors.SPC_NOT_FOUND,
        f"SecretProviderClass {name!r} not found in namespace {namespace!r} (pod {pod}); a pod can only use "
        "a SecretProviderClass from its own namespace",
    )


def _invalid(namespace: str, name: str, exc: Exception) -> DriverError:
    return DriverError(
        grpc.StatusCode.FAILED_PRECONDITION,
        errors.SPC_NOT_FOUND,
        f"SecretProviderClass {namespace}/{name} is invalid: {exc}",
    )


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpcSource(Protocol):
    async def get(self, namespace: str, name: str, pod: str) -> SecretProviderClass: ...


class KubeSpcSource:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube

    async def get(self, namespace: str, name: str, pod: str) -> SecretProviderClass:
        try:
            obj = await self._kube.get(spc_path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                raise _not_found(namespace, name, pod) from exc
            raise DriverError(
                grpc.StatusCode.UNAVAILABLE,
                errors.SPC_NOT_FOUND,
                f"reading SecretProviderClass {namespace}/{name} for pod {pod} failed: {exc}",
            ) from exc
        try:
            return parse_spc(obj, namespace, name)
        except ValueError as exc:
            raise _invalid(namespace, name, exc) from exc


class DirSpcSource:
    def __init__(self, directory: str) -> None:
        self._dir = directory

    async def get(self, namespace: str, name: str, pod: str) -> SecretProviderClass:
        path = os.path.join(self._dir, namespace, f"{name}.yaml")
        if "/" in namespace or "/" in name or namespace.startswith(".") or name.startswith("."):
            raise _not_found(namespace, name, pod)

        def load() -> Any:
            with open(path, encoding="utf-8") as fh:
                return yaml.load(fh, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader

        try:
            obj = await asyncio.to_thread(load)
        except FileNotFoundError as exc:
            raise _not_found(namespace, name, pod) from exc
        try:
            if not isinstance(obj, dict):
                raise ValueError("not a YAML object")
            return parse_spc(obj, namespace, name)
        except ValueError as exc:
            raise _invalid(namespace, name, exc) from exc
