import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from secrets_store_csi.driver.secretsync import (
    MANAGED_LABEL,
    SyncError,
    build_secret,
    merge_owners,
    tls_part,
)
from secrets_store_csi.driver.spc import SecretObject, SecretObjectData, parse_spc

OWNERS = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "rs1"}]


def _key_and_cert() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_opaque_secret_carries_the_mounted_objects_and_the_managed_label() -> None:
    so = SecretObject("db", "Opaque", (SecretObjectData("user", "username"),), {"team": "a"}, {"note": "x"})
    body = build_secret(so, {"user": b"admin"}, "shop", OWNERS)
    assert body["data"] == {"username": base64.b64encode(b"admin").decode()}
    assert body["metadata"]["labels"] == {"team": "a", MANAGED_LABEL: "true"}
    assert body["metadata"]["annotations"] == {"note": "x"}
    assert body["metadata"]["ownerReferences"] == OWNERS
    assert body["type"] == "Opaque"


def test_an_object_that_was_not_mounted_is_a_sync_error_naming_it() -> None:
    so = SecretObject("db", "Opaque", (SecretObjectData("missing", "k"),))
    with pytest.raises(SyncError, match="'missing'"):
        build_secret(so, {"user": b"admin"}, "shop", OWNERS)


def test_tls_secret_splits_a_pem_bundle_into_key_and_certificate() -> None:
    key, cert = _key_and_cert()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    bundle = key_pem + cert_pem
    assert tls_part(bundle, "tls.key").strip() == key_pem.strip()
    assert tls_part(bundle, "tls.crt").strip() == cert_pem.strip()
    assert tls_part(bundle, "ca.crt") == bundle


def test_tls_secret_extracts_key_and_chain_from_pkcs12_raw_and_base64() -> None:
    key, cert = _key_and_cert()
    p12 = pkcs12.serialize_key_and_certificates(b"x", key, cert, None, serialization.NoEncryption())
    for blob in (p12, base64.b64encode(p12)):
        crt = tls_part(blob, "tls.crt")
        assert x509.load_pem_x509_certificate(crt).serial_number == 1
        loaded = serialization.load_pem_private_key(tls_part(blob, "tls.key"), None)
        assert loaded.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def test_tls_secret_from_garbage_is_refused_without_echoing_it() -> None:
    so = SecretObject("tls", "kubernetes.io/tls", (SecretObjectData("cert", "tls.crt"),))
    with pytest.raises(SyncError) as err:
        build_secret(so, {"cert": b"hunter2-not-a-cert"}, "shop", OWNERS)
    assert "hunter2" not in str(err.value)


def test_owner_references_are_merged_without_duplicates() -> None:
    other = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-def", "uid": "rs2"}
    assert merge_owners(OWNERS, [*OWNERS, other]) == [*OWNERS, other]


def test_spc_parse_reads_provider_parameters_and_secret_objects() -> None:
    spc = parse_spc(
        {
            "metadata": {"uid": "u"},
            "spec": {
                "provider": "vault",
                "parameters": {"roleName": "r", "objects": "- a"},
                "secretObjects": [
                    {"secretName": "s", "type": "Opaque", "data": [{"objectName": "a", "key": "k"}]}
                ],
            },
        },
        "shop",
        "db",
    )
    assert spc.provider == "vault" and spc.parameters["roleName"] == "r"
    assert spc.secret_objects[0].data[0] == SecretObjectData("a", "k")
    assert spc.ref == "shop/db"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "spec.provider"),
        ({"provider": "v", "secretObjects": [{"type": "Opaque"}]}, "secretName"),
        ({"provider": "v", "secretObjects": [{"secretName": "s", "data": [{"key": "k"}]}]}, "objectName"),
        ({"provider": "v", "parameters": ["x"]}, "spec.parameters"),
    ],
)
def test_spc_parse_names_the_bad_field(spec: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=field):
        parse_spc({"spec": spec}, "ns", "n")


class _EventSink:
    def __init__(self) -> None:
        self.created: list[dict] = []  # type: ignore[type-arg]

    async def create(self, path: str, body: dict) -> dict:  # type: ignore[type-arg]
        self.created.append(body)
        return body


async def test_an_identical_event_is_recorded_once_per_window_and_a_different_one_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from secrets_store_csi.driver import secretsync

    monkeypatch.setattr(secretsync, "_recorded", {})
    clock = [1000.0]
    monkeypatch.setattr(secretsync, "_clock", lambda: clock[0])
    sink = _EventSink()

    async def post(message: str, reason: str = "SecretRotationFailed") -> None:
        await secretsync.post_event(
            sink,  # type: ignore[arg-type]  # only create() is used
            "ns",
            "app",
            pod_uid="u1",
            reason=reason,
            message=message,
            node="n",
        )

    for _ in range(5):  # five failing rotation polls
        await post("provider 'aws' failed to mount: 500")
    assert len(sink.created) == 1
    await post("provider 'aws' failed to mount: timeout")  # a different failure is news
    await post("rotated", reason="SecretRotationComplete")
    assert len(sink.created) == 3
    clock[0] += secretsync.EVENT_REPEAT_SECONDS
    await post("provider 'aws' failed to mount: 500")  # still failing after the window: said again
    assert len(sink.created) == 4
