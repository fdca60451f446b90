"""Parsing of NodePublishVolume's volume context and secrets into what the driver needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from secrets_store_csi.driver.errors import invalid
from secrets_store_csi.kube.paths import name_problem

SPC_KEY = "secretProviderClass"
POD_NAME = "csi.storage.k8s.io/pod.name"
POD_NAMESPACE = "csi.storage.k8s.io/pod.namespace"
POD_UID = "csi.storage.k8s.io/pod.uid"
SA_NAME = "csi.storage.k8s.io/serviceAccount.name"
SA_TOKENS = "csi.storage.k8s.io/serviceAccount.tokens"
EPHEMERAL = "csi.storage.k8s.io/ephemeral"

# Values of these keys never reach a log line.
SENSITIVE_KEYS = frozenset({SA_TOKENS})


@dataclass(frozen=True)
class VolumeRequest:
    """What a NodePublishVolume asks for, validated."""

    spc_name: str
    pod_name: str
    pod_namespace: str
    pod_uid: str
    service_account: str
    tokens: str  # JSON from kubelet, "" when the CSIDriver has no tokenRequests
    ephemeral: bool
    volume_context: dict[str, str] = field(repr=False)
    secrets: dict[str, str] = field(repr=False)

    @property
    def pod(self) -> str:
        return f"{self.pod_namespace}/{self.pod_name}"


def parse_volume_request(volume_context: dict[str, str], secrets: dict[str, str]) -> VolumeRequest:
    """Validate the volume context; kubelet sets the pod keys when the CSIDriver has podInfoOnMount."""
    if not volume_context:
        raise invalid(
            "volume context is empty: the volume needs volumeAttributes.secretProviderClass and the "
            "CSIDriver secrets-store.csi.k8s.io needs podInfoOnMount: true"
        )
    spc = volume_context.get(SPC_KEY, "")
    if not spc:
        raise invalid(
            "volumeAttributes.secretProviderClass is missing: name the SecretProviderClass to mount"
        )
    if problem := name_problem(spc):
        raise invalid(
            f"volumeAttributes.secretProviderClass {spc!r} is not a SecretProviderClass name ({problem}): "
            "name one in the pod's own namespace"
        )
    missing = [k for k in (POD_NAME, POD_NAMESPACE, POD_UID) if not volume_context.get(k)]
    if missing:
        raise invalid(
            f"volume context lacks {', '.join(missing)}: set podInfoOnMount: true on the CSIDriver "
            "secrets-store.csi.k8s.io"
        )
    for key in (POD_NAME, POD_NAMESPACE):
        if problem := name_problem(volume_context[key]):
            raise invalid(f"volume context {key} {volume_context[key]!r} is not a valid name ({problem})")
    # kubelet puts tokens in the volume context; newer kubelets may put them in the secrets field.
    tokens = secrets.get(SA_TOKENS) or volume_context.get(SA_TOKENS, "")
    if tokens:
        try:
            parsed = json.loads(tokens)
        except ValueError as exc:
            raise invalid(f"{SA_TOKENS} is not valid JSON") from exc
        if not isinstance(parsed, dict):
            raise invalid(f"{SA_TOKENS} must be a JSON object of audience to token")
    plain_secrets = {k: v for k, v in secrets.items() if k != SA_TOKENS}
    return VolumeRequest(
        spc_name=spc,
        pod_name=volume_context[POD_NAME],
        pod_namespace=volume_context[POD_NAMESPACE],
        pod_uid=volume_context[POD_UID],
        service_account=volume_context.get(SA_NAME, ""),
        tokens=tokens,
        ephemeral=volume_context.get(EPHEMERAL, "").lower() == "true",
        volume_context={k: v for k, v in volume_context.items() if k != SA_TOKENS},
        secrets=plain_secrets,
    )


def mount_attributes(spc_parameters: dict[str, str], req: VolumeRequest) -> str:
    """The provider's `attributes` JSON: SPC parameters, then the volume attributes, then the tokens."""
    attrs: dict[str, str] = dict(spc_parameters)
    attrs.update(req.volume_context)
    if req.tokens:
        attrs[SA_TOKENS] = req.tokens
    return json.dumps(attrs, sort_keys=True)


def permission_json(mode: int) -> str:
    """The provider's `permission` field: the mode as JSON, `420` for 0644 (a number, exactly what the
    upstream driver sends: Go's json.Marshal of an os.FileMode; upstream providers unmarshal it into one)."""
    return json.dumps(mode)
