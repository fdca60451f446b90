"""SecretProviderClass parameters of the AWS provider, parsed and checked before any backend call.

Parameters as the upstream AWS provider (secrets-store-csi-driver-provider-aws): `objects` (a YAML list),
`region`, `failoverRegion`, `pathTranslation`, `usePodIdentity`, `preferredAddressType`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from secrets_store_csi.providers.errors import invalid
from secrets_store_csi.providers.mountspec import check_unique, parse_bool
from secrets_store_csi.providers.paths import check_relative_path, parse_file_permission

log = logging.getLogger(__name__)

SECRETS_MANAGER = "secretsmanager"
SSM = "ssmparameter"
OBJECT_TYPES = (SECRETS_MANAGER, SSM)
ARN_SERVICE = {"secretsmanager": SECRETS_MANAGER, "ssm": SSM}
_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):(?P<service>[\w-]+):(?P<region>[\w-]*):(?P<account>\d*):(?P<rest>.+)$"
)
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
OBJECT_KEYS = {
    "objectName",
    "objectType",
    "objectAlias",
    "objectVersion",
    "objectVersionLabel",
    "filePermission",
    "jmesPath",
    "failoverObject",
}


@dataclass(frozen=True)
class Arn:
    service: str
    region: str
    account: str
    resource: str


def parse_arn(name: str) -> Arn | None:
    m = _ARN.match(name)
    if not m:
        return None
    return Arn(m["service"], m["region"], m["account"], m["rest"])


def ssm_name_from_arn(arn: Arn) -> str:
    """`parameter/a` is the parameter `a`; `parameter/a/b` is the hierarchical parameter `/a/b`."""
    rest = arn.resource.removeprefix("parameter")
    return rest[1:] if rest.count("/") == 1 else rest


@dataclass(frozen=True)
class JmesEntry:
    path: str
    alias: str
    mode: int


@dataclass(frozen=True)
class AwsObject:
    name: str  # objectName as written (name or ARN)
    type: str
    file_name: str
    mode: int
    version: str = ""
    label: str = ""
    jmes: tuple[JmesEntry, ...] = ()
    failover_name: str = ""
    arn: Arn | None = field(default=None, compare=False)

    @property
    def api_name(self) -> str:
        """The name sent to the API (SSM GetParameters takes names, not ARNs)."""
        if self.type == SSM and self.arn is not None:
            return ssm_name_from_arn(self.arn)
        return self.name

    @property
    def pinned(self) -> bool:
        """A pinned version never changes: a remount may reuse what it mounted."""
        return bool(self.version)

    def __str__(self) -> str:
        return self.file_name


@dataclass(frozen=True)
class AwsParams:
    objects: tuple[AwsObject, ...]
    region: str
    failover_region: str
    path_translation: str | None
    use_pod_identity: bool
    preferred_address_type: str


def _str_field(raw: dict[str, Any], key: str, obj: str) -> str:
    value = raw.get(key, "")
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(f"{key} must be a string", obj)
    return str(value)


def _file_name(name: str, alias: str, translation: str | None, obj: str) -> str:
    if alias:
        return check_relative_path(alias, obj)
    if translation is not None:
        name = name.replace("/", translation)
    return check_relative_path(name.lstrip("/") if translation is None else name, obj)


def parse_objects(
    raw_objects: str, region: str, failover_region: str, translation: str | None, default_mode: int
) -> tuple[AwsObject, ...]:
    try:
        items = yaml.safe_load(raw_objects) if raw_objects else None
    except yaml.YAMLError as exc:
        raise invalid("objects is not valid YAML") from exc
    if not isinstance(items, list) or not items:
        raise invalid("objects must be a non-empty YAML list")
    objects: list[AwsObject] = []
    for item in items:
        if not isinstance(item, dict):
            raise invalid("each entry of objects must be a mapping with objectName")
        raw = {str(k): v for k, v in item.items()}
        unknown = set(raw) - OBJECT_KEYS
        name = _str_field(raw, "objectName", "?")
        if not name:
            raise invalid("objectName is required for every object")
        if unknown:
            # Upstream providers ignore keys they do not know: warn, so that their SecretProviderClasses
            # keep working while a typo is still visible in the provider's log.
            log.warning("object %r: ignoring unknown keys %s", name, sorted(unknown))
        arn = parse_arn(name)
        otype = _str_field(raw, "objectType", name)
        if arn is not None:
            arn_type = ARN_SERVICE.get(arn.service)
            if arn_type is None:
                raise invalid(f"ARN service {arn.service!r} is neither secretsmanager nor ssm", name)
            if otype and otype != arn_type:
                raise invalid(f"objectType {otype!r} does not match the ARN's service {arn.service!r}", name)
            otype = arn_type
            if region and arn.region and arn.region != region:
                raise invalid(f"ARN region {arn.region!r} does not match the mount region {region!r}", name)
        elif not otype:
            raise invalid("Must use objectType when a full ARN is not specified", name)
        if otype not in OBJECT_TYPES:
            raise invalid(f"objectType {otype!r} must be one of {', '.join(OBJECT_TYPES)}", name)
        version = _str_field(raw, "objectVersion", name)
        label = _str_field(raw, "objectVersionLabel", name)
        if otype == SSM and version and label:
            raise invalid("ssm parameters take objectVersion or objectVersionLabel, not both", name)
        if otype == SSM and version and not version.isdigit():
            raise invalid(f"objectVersion {version!r} of an ssm parameter must be a number", name)
        alias = _str_field(raw, "objectAlias", name)
        mode = parse_file_permission(raw["filePermission"], name) if "filePermission" in raw else default_mode
        jmes: list[JmesEntry] = []
        raw_jmes = raw.get("jmesPath")
        if raw_jmes is not None:
            if not isinstance(raw_jmes, list):
                raise invalid("jmesPath must be a list of {path, objectAlias}", name)
            for entry in raw_jmes:
                if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
                    raise invalid("each jmesPath entry needs a path", name)
                j_alias = entry.get("objectAlias")
                if not isinstance(j_alias, str) or not j_alias:
                    raise invalid("each jmesPath entry needs an objectAlias", name)
                j_mode = (
                    parse_file_permission(entry["filePermission"], name)
                    if "filePermission" in entry
                    else mode
                )
                jmes.append(JmesEntry(entry["path"], check_relative_path(j_alias, name), j_mode))
        failover_name = ""
        raw_failover = raw.get("failoverObject")
        if raw_failover is not None:
            if not failover_region:
                raise invalid("failoverObject needs failoverRegion", name)
            if not isinstance(raw_failover, dict) or not isinstance(raw_failover.get("objectName"), str):
                raise invalid("failoverObject must be a mapping with objectName", name)
            failover_name = raw_failover["objectName"]
            f_arn = parse_arn(failover_name)
            if f_arn is not None and f_arn.region and f_arn.region != failover_region:
                raise invalid(
                    f"failoverObject ARN region {f_arn.region!r} does not match failoverRegion", name
                )
            if failover_name != name and not alias:
                raise invalid("objectAlias is required when failoverObject names another object", name)
        objects.append(
            AwsObject(
                name=name,
                type=otype,
                file_name=_file_name(name, alias, translation, name),
                mode=mode,
                version=version,
                label=label,
                jmes=tuple(jmes),
                failover_name=failover_name,
                arn=arn,
            )
        )
    check_unique([o.file_name for o in objects] + [j.alias for o in objects for j in o.jmes], "file name")
    check_unique([f"{o.type}|{o.name}|{o.version}|{o.label}" for o in objects], "object")
    return tuple(objects)


def parse_params(attributes: dict[str, str], default_mode: int) -> AwsParams:
    region = attributes.get("region", "")
    failover_region = attributes.get("failoverRegion", "")
    for what, value in (("region", region), ("failoverRegion", failover_region)):
        if value and not _REGION.match(value):
            raise invalid(f"{what} {value!r} is not an AWS region name")
    if failover_region and failover_region == region:
        raise invalid("failoverRegion must differ from region")
    raw_translation = attributes.get("pathTranslation")
    translation: str | None
    if raw_translation is None or raw_translation == "":
        translation = "_"
    elif raw_translation.lower() == "false":
        translation = None
    elif len(raw_translation) == 1 and raw_translation not in "/\\." and raw_translation.isprintable():
        translation = raw_translation
    else:
        raise invalid(f'pathTranslation {raw_translation!r} must be a single character or "False"')
    address_type = attributes.get("preferredAddressType", "auto") or "auto"
    if address_type not in ("auto", "ipv4", "ipv6"):
        raise invalid(f"preferredAddressType {address_type!r} must be auto, ipv4 or ipv6")
    return AwsParams(
        objects=parse_objects(
            attributes.get("objects", ""), region, failover_region, translation, default_mode
        ),
        region=region,
        failover_region=failover_region,
        path_translation=translation,
        use_pod_identity=parse_bool(attributes.get("usePodIdentity"), "usePodIdentity"),
        preferred_address_type=address_type,
    )
