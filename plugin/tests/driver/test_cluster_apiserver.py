"""The driver on the host against the local cluster's real kube-apiserver: SecretProviderClass from the
pod's namespace, SecretProviderClassPodStatus, Secret sync with owner references and events, rotation."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secrets_store_csi.driver.mount import unmount
from secrets_store_csi.kube.client import KubeClient
from secrets_store_csi.kube.config import load_kubeconfig
from secrets_store_csi.kube.paths import secret_path, spcps_path

from .cluster_env import KUBECONFIG, cluster_lock, crds_installed, kubectl, namespace, require_cluster
from .conftest import CsiClient, Harness, volume_context, wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    require_cluster()
    with cluster_lock(), crds_installed():
        yield


@pytest.fixture
def ns(cluster: None) -> Iterator[str]:
    with namespace() as name:
        yield name


@pytest.fixture
async def kube() -> AsyncIterator[KubeClient]:
    client = KubeClient(load_kubeconfig(KUBECONFIG))
    yield client
    await client.close()


def apply(obj: dict[str, Any]) -> dict[str, Any]:
    out = kubectl("apply", "-o", "json", "-f", "-", stdin=json.dumps(obj))
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def spc(
    ns: str, name: str, objects: dict[str, str], secret_objects: list[Any] | None = None, **params: str
) -> None:
    spec: dict[str, Any] = {
        "provider": "testprovider",
        "parameters": {"objects": json.dumps(objects), **params},
    }
    if secret_objects:
        spec["secretObjects"] = secret_objects
    apply(
        {
            "apiVersion": "secrets-store.csi.x-k8s.io/v1",
            "kind": "SecretProviderClass",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }
    )


def pending_pod(
    ns: str, name: str, owners: list[dict[str, Any]] | None = None, sa: str = "default"
) -> dict[str, Any]:
    """A real Pod object that never schedules (its nodeSelector matches no node): it has a UID and owners."""
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if owners:
        meta["ownerReferences"] = owners
    return apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {
                "nodeSelector": {"ssc-driver-test": "nowhere"},
                "serviceAccountName": sa,
                "automountServiceAccountToken": False,
                "containers": [{"name": "c", "image": "localhost/pause:3.10", "imagePullPolicy": "Never"}],
            },
        }
    )


def owner(ns: str, name: str) -> dict[str, Any]:
    cm = apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}})
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": cm["metadata"]["uid"]}


def ctx_for(pod: dict[str, Any], spc_name: str) -> dict[str, str]:
    ctx = volume_context(
        pod["metadata"]["name"],
        pod["metadata"]["namespace"],
        spc_name,
        sa=pod["spec"].get("serviceAccountName", "default"),
    )
    ctx["csi.storage.k8s.io/pod.uid"] = pod["metadata"]["uid"]
    return ctx


def start(harness: Harness, *flags: str) -> None:
    harness.start_provider()
    harness.start_driver("--kubeconfig", KUBECONFIG, *flags, spc_dir=False)


async def test_spc_is_read_from_the_apiserver_and_pod_status_recorded(
    harness: Harness, client: CsiClient, kube: KubeClient, ns: str
) -> None:
    harness.object("b", "bee")
    harness.object("a", "ay")
    spc(ns, "app", {"zeta": "b", "alpha": "a"})
    pod = pending_pod(ns, "web-0")
    start(harness)
    target = harness.target("web-0")
    await client.publish(target, ctx_for(pod, "app"))
    assert (target / "alpha").read_text() == "ay"
    status = await kube.get(spcps_path(ns, f"web-0-{ns}-app"))
    assert status["metadata"]["labels"]["internal.secrets-store.csi.k8s.io/node-name"] == "node-test"
    assert status["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert status["metadata"]["ownerReferences"][0]["kind"] == "Pod"
    assert status["status"]["podName"] == "web-0" and status["status"]["mounted"] is True
    assert status["status"]["targetPath"] == str(target)
    assert [o["id"] for o in status["status"]["objects"]] == ["alpha", "zeta"]


async def test_spc_in_another_namespace_is_refused(harness: Harness, client: CsiClient, ns: str) -> None:
    with namespace() as other:
        harness.object("a", "other-team-secret")
        spc(other, "shared", {"a": "a"})
        pod = pending_pod(ns, "web-0")
        start(harness)
        target = harness.target("web-0")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.publish(target, ctx_for(pod, "shared"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert f"namespace '{ns}'" in (err.value.details() or "")
        assert not harness.is_tmpfs(target)


async def test_secret_sync_owned_by_the_pods_owners_and_collected_with_the_last(
    harness: Harness, client: CsiClient, kube: KubeClient, ns: str
) -> None:
    harness.object("pw", "s3cret")
    spc(
        ns,
        "app",
        {"password": "pw"},
        secret_objects=[
            {
                "secretName": "app-creds",
                "type": "Opaque",
                "labels": {"team": "shop"},
                "data": [{"objectName": "password", "key": "PASSWORD"}],
            }
        ],
    )
    rs1, rs2 = owner(ns, "owner-1"), owner(ns, "owner-2")
    pod1 = pending_pod(ns, "web-1", [rs1])
    pod2 = pending_pod(ns, "web-2", [rs2])
    start(harness)
    await client.publish(harness.target("web-1"), ctx_for(pod1, "app"))
    await client.publish(harness.target("web-2"), ctx_for(pod2, "app"))
    secret = await kube.get(secret_path(ns, "app-creds"))
    assert base64.b64decode(secret["data"]["PASSWORD"]) == b"s3cret"
    assert secret["metadata"]["labels"] == {"team": "shop", "secrets-store.csi.k8s.io/managed": "true"}
    assert {o["uid"] for o in secret["metadata"]["ownerReferences"]} == {rs1["uid"], rs2["uid"]}
    kubectl("delete", "configmap", "-n", ns, "owner-1", "--wait=true")
    await asyncio.sleep(3)
    assert (await kube.get(secret_path(ns, "app-creds")))["metadata"]["name"] == "app-creds"
    kubectl("delete", "configmap", "-n", ns, "owner-2", "--wait=true")

    async def gone() -> bool:
        return kubectl("get", "secret", "-n", ns, "app-creds", check=False).returncode != 0

    for _ in range(60):
        if await gone():
            break
        await asyncio.sleep(1)
    assert await gone(), "the garbage collector kept the Secret after its last owner went"


async def test_tls_secret_is_extracted_from_a_pem_bundle(
    harness: Harness, client: CsiClient, kube: KubeClient, ns: str
) -> None:
    pk = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pk.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(pk, hashes.SHA256())
    )
    key_pem = pk.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    harness.object("tls", key_pem + cert.public_bytes(serialization.Encoding.PEM))
    spc(
        ns,
        "tls",
        {"bundle": "tls"},
        secret_objects=[
            {
                "secretName": "shop-tls",
                "type": "kubernetes.io/tls",
                "data": [
                    {"objectName": "bundle", "key": "tls.key"},
                    {"objectName": "bundle", "key": "tls.crt"},
                ],
            }
        ],
    )
    pod = pending_pod(ns, "web-0")
    start(harness)
    await client.publish(harness.target("web-0"), ctx_for(pod, "tls"))
    secret = await kube.get(secret_path(ns, "shop-tls"))
    assert secret["type"] == "kubernetes.io/tls"
    assert x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"])).serial_number == 7
    assert b"PRIVATE KEY" in base64.b64decode(secret["data"]["tls.key"])


async def test_sync_failure_is_an_event_on_the_pod_and_an_unmanaged_secret_is_left_alone(
    harness: Harness, client: CsiClient, kube: KubeClient, ns: str
) -> None:
    harness.object("pw", "new-value")
    kubectl("create", "secret", "generic", "-n", ns, "precious", "--from-literal=k=user-owned")
    spc(
        ns,
        "app",
        {"pw": "pw"},
        secret_objects=[
            {"secretName": "precious", "type": "Opaque", "data": [{"objectName": "pw", "key": "k"}]}
        ],
    )
    pod = pending_pod(ns, "web-0")
    start(harness)
    await client.publish(harness.target("web-0"), ctx_for(pod, "app"))  # the mount itself succeeds
    secret = await kube.get(secret_path(ns, "precious"))
    assert base64.b64decode(secret["data"]["k"]) == b"user-owned"

    def event_seen() -> bool:
        out = kubectl(
            "get", "events", "-n", ns, "--field-selector", "involvedObject.name=web-0", "-o", "json"
        )
        return any(
            e["reason"] == "FailedToSyncSecret" and "not managed by the driver" in e["message"]
            for e in json.loads(out.stdout)["items"]
        )

    await wait_until(event_seen, "FailedToSyncSecret event", limit=15)
    out = kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "new-value" not in out


async def test_rotation_updates_mount_pod_status_and_synced_secret(
    harness: Harness, client: CsiClient, kube: KubeClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(
        ns,
        "app",
        {"pw": "pw"},
        secret_objects=[
            {"secretName": "rotated", "type": "Opaque", "data": [{"objectName": "pw", "key": "pw"}]}
        ],
    )
    pod = pending_pod(ns, "web-0")
    start(harness, "--enable-secret-rotation", "--rotation-poll-interval", "2s")
    target = harness.target("web-0")
    await client.publish(target, ctx_for(pod, "app"))
    first = (await kube.get(spcps_path(ns, f"web-0-{ns}-app")))["status"]["objects"][0]["version"]
    harness.object("pw", "v2")
    await wait_until(lambda: (target / "pw").read_text() == "v2", "rotated mount", limit=15)

    async def synced() -> bool:
        data = (await kube.get(secret_path(ns, "rotated")))["data"]["pw"]
        return base64.b64decode(data) == b"v2"

    for _ in range(30):
        if await synced():
            break
        await asyncio.sleep(0.5)
    assert await synced()
    second = (await kube.get(spcps_path(ns, f"web-0-{ns}-app")))["status"]["objects"][0]["version"]
    assert second != first


async def test_rotation_mints_fresh_tokens_for_the_pod_when_the_stored_ones_expire(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"}, echoTokens="true")
    pod = pending_pod(ns, "web-0")
    start(harness, "--enable-secret-rotation", "--rotation-poll-interval", "2s")
    target = harness.target("web-0")
    stale = json.dumps({"ssc-test": {"token": "stale-token", "expirationTimestamp": "2020-01-01T00:00:00Z"}})
    ctx = ctx_for(pod, "app")
    ctx["csi.storage.k8s.io/serviceAccount.tokens"] = stale
    await client.publish(target, ctx)
    assert "stale-token" in (target / "tokens").read_text()
    await wait_until(lambda: "stale-token" not in (target / "tokens").read_text(), "minted tokens", limit=15)
    minted = json.loads((target / "tokens").read_text())
    assert minted["ssc-test"]["token"].startswith("eyJ")
    payload = minted["ssc-test"]["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == ["ssc-test"]
    assert claims["kubernetes.io"]["pod"]["uid"] == pod["metadata"]["uid"]
    assert minted["ssc-test"]["token"] not in harness.driver_log.read_text()


async def test_rotation_rereads_the_node_publish_secret_ref(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"}, echoIdentity="true")
    kubectl("create", "secret", "generic", "-n", ns, "creds", "--from-literal=cred=alice")
    pod = apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": ns},
            "spec": {
                "nodeSelector": {"ssc-driver-test": "nowhere"},
                "automountServiceAccountToken": False,
                "containers": [{"name": "c", "image": "localhost/pause:3.10", "imagePullPolicy": "Never"}],
                "volumes": [
                    {
                        "name": "s",
                        "csi": {
                            "driver": "secrets-store.csi.k8s.io",
                            "readOnly": True,
                            "volumeAttributes": {"secretProviderClass": "app"},
                            "nodePublishSecretRef": {"name": "creds"},
                        },
                    }
                ],
            },
        }
    )
    start(harness, "--enable-secret-rotation", "--rotation-poll-interval", "2s")
    target = harness.target("web-0")
    await client.publish(target, ctx_for(pod, "app"), secrets={"cred": "alice"})
    assert (target / "identity").read_text().endswith("cred=alice")
    bob = base64.b64encode(b"bob").decode()
    kubectl("patch", "secret", "-n", ns, "creds", "--type=merge", "-p", json.dumps({"data": {"cred": bob}}))
    await wait_until(
        lambda: (target / "identity").read_text().endswith("cred=bob"), "re-read secret", limit=15
    )


def pod_with_volume(
    ns: str, name: str, spc_name: str, *, sa: str, driver: str, secret_ref: str = ""
) -> dict[str, Any]:
    """A pending Pod whose spec carries the inline CSI volume (what the driver rebuilds a volume from)."""
    csi: dict[str, Any] = {
        "driver": driver,
        "readOnly": True,
        "volumeAttributes": {"secretProviderClass": spc_name},
    }
    if secret_ref:
        csi["nodePublishSecretRef"] = {"name": secret_ref}
    return apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "nodeSelector": {"ssc-driver-test": "nowhere"},
                "serviceAccountName": sa,
                "automountServiceAccountToken": False,
                "containers": [{"name": "c", "image": "localhost/pause:3.10", "imagePullPolicy": "Never"}],
                "volumes": [{"name": "secrets", "csi": csi}],
            },
        }
    )


@pytest.fixture
def token_driver(ns: str) -> Iterator[str]:
    """A CSIDriver object of a driver name of our own with tokenRequests (audience ssc-test): the
    cluster's secrets-store.csi.k8s.io object, if any, is left alone."""
    name = f"{ns}.csi.test"
    apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": name},
            "spec": {
                "attachRequired": False,
                "podInfoOnMount": True,
                "volumeLifecycleModes": ["Ephemeral"],
                "tokenRequests": [{"audience": "ssc-test", "expirationSeconds": 3600}],
            },
        }
    )
    try:
        yield name
    finally:
        kubectl("delete", "csidriver", name, "--wait=false", check=False)


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


async def test_restarted_driver_rotates_the_volumes_it_had_published_with_each_pods_identity(
    harness: Harness, client: CsiClient, ns: str, token_driver: str
) -> None:
    """Publish two pods of two identities, restart the driver, rotate the backend value: both files
    change with no NodePublishVolume after the restart, each fetched with its own pod's service account,
    nodePublishSecretRef and a fresh token bound to that pod."""
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"}, echoIdentity="true", echoTokens="true")
    pods = {}
    for who in ("alice", "bob"):
        kubectl("create", "serviceaccount", "-n", ns, who)
        kubectl("create", "secret", "generic", "-n", ns, f"creds-{who}", f"--from-literal=cred={who}")
        pods[who] = pod_with_volume(
            ns, f"web-{who}", "app", sa=who, driver=token_driver, secret_ref=f"creds-{who}"
        )
    flags = ("--drivername", token_driver, "--enable-secret-rotation", "--rotation-poll-interval", "2s")
    start(harness, *flags)
    for who, pod in pods.items():
        ctx = ctx_for(pod, "app")
        kubelet_tokens = {
            "ssc-test": {"token": f"kubelet-token-{who}", "expirationTimestamp": "2099-01-01T00:00:00Z"}
        }
        ctx["csi.storage.k8s.io/serviceAccount.tokens"] = json.dumps(kubelet_tokens)
        await client.publish(harness.target(f"web-{who}"), ctx, secrets={"cred": who})
    for who in pods:
        assert (harness.target(f"web-{who}") / "pw").read_text() == "v1"

    assert harness.stop("driver") == 0
    harness.start_driver("--kubeconfig", KUBECONFIG, *flags, spc_dir=False)
    calls_before = len(harness.provider_calls())
    harness.object("pw", "v2")
    for who in pods:
        target = harness.target(f"web-{who}")
        await wait_until(lambda t=target: (t / "pw").read_text() == "v2", f"rotation of web-{who}", limit=20)

    log = harness.driver_log.read_text()
    assert log.count("NodePublishVolume done") == 2, "the rotation came from a new NodePublishVolume"
    assert len(harness.provider_calls()) > calls_before
    for who, pod in pods.items():
        target = harness.target(f"web-{who}")
        assert harness.is_tmpfs(target)
        assert (target / "identity").read_text() == f"namespace={ns} serviceAccount={who} cred={who}"
        minted = json.loads((target / "tokens").read_text())["ssc-test"]["token"]
        assert minted != f"kubelet-token-{who}"
        claims = jwt_claims(minted)
        assert claims["aud"] == ["ssc-test"]
        assert claims["sub"] == f"system:serviceaccount:{ns}:{who}"
        assert claims["kubernetes.io"]["pod"]["uid"] == pod["metadata"]["uid"]
        assert minted not in log


async def test_restarted_driver_does_not_write_into_a_target_that_is_no_longer_mounted(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"})
    pod = pod_with_volume(ns, "web-0", "app", sa="default", driver="secrets-store.csi.k8s.io")
    flags = ("--enable-secret-rotation", "--rotation-poll-interval", "1s")
    start(harness, *flags)
    target = harness.target("web-0")
    await client.publish(target, ctx_for(pod, "app"))
    assert harness.stop("driver") == 0
    unmount(str(target))  # kubelet cleaned up while the driver was away; the directory stays
    target.mkdir(parents=True, exist_ok=True)
    harness.start_driver("--kubeconfig", KUBECONFIG, *flags, spc_dir=False)
    harness.object("pw", "v2")
    await wait_until(
        lambda: "volume not rebuilt" in harness.driver_log.read_text(), "recovery skipping the target"
    )
    await asyncio.sleep(3)  # three polls
    assert not harness.is_tmpfs(target)
    assert list(target.iterdir()) == [], "content was written onto the node's disk"


def forbid_pod_statuses(ns: str) -> None:
    """A real apiserver refusal: a quota of zero SecretProviderClassPodStatuses in the namespace.

    The quota admission plugin refuses the create from the moment the quota exists: "exceeded quota"
    once the quota controller has counted the resource, "status unknown for quota" before it has (for a
    custom resource that can take its 30 s discovery resync). Both name the quota, and both are what a
    user meets, so the tests accept either wording rather than wait on the controller."""
    resource = "count/secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io"
    kubectl("create", "quota", "-n", ns, "no-podstatus", f"--hard={resource}=0")


async def test_pod_status_write_failure_fails_a_first_mount_and_cleans_the_target(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"})
    pod = pending_pod(ns, "web-0")
    forbid_pod_statuses(ns)
    start(harness)
    target = harness.target("web-0")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.publish(target, ctx_for(pod, "app"))
    assert err.value.code() == grpc.StatusCode.INTERNAL
    details = err.value.details() or ""
    assert f"SecretProviderClassPodStatus {ns}/web-0-{ns}-app" in details
    assert "quota: no-podstatus" in details
    assert not harness.is_tmpfs(target)
    assert not target.exists()


async def test_pod_status_write_failure_on_a_remount_keeps_the_old_content(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    harness.object("pw", "v1")
    spc(ns, "app", {"pw": "pw"})
    pod = pending_pod(ns, "web-0")
    # Rotation on with a short interval: kubelet's requiresRepublish call refreshes the volume.
    start(harness, "--enable-secret-rotation", "--rotation-poll-interval", "300ms")
    target = harness.target("web-0")
    await client.publish(target, ctx_for(pod, "app"))
    kubectl("delete", "secretproviderclasspodstatus", "-n", ns, f"web-0-{ns}-app")
    forbid_pod_statuses(ns)
    harness.object("pw", "v2")
    await asyncio.sleep(0.5)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.publish(target, ctx_for(pod, "app"))
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert f"SecretProviderClassPodStatus {ns}/web-0-{ns}-app" in (err.value.details() or "")
    assert harness.is_tmpfs(target)
    assert (target / "pw").read_text() == "v1"
    kubectl("delete", "quota", "-n", ns, "no-podstatus")
    await asyncio.sleep(0.5)
    await client.publish(target, ctx_for(pod, "app"))
    assert (target / "pw").read_text() == "v2"


async def test_spc_cache_follows_creates_edits_and_deletes_of_secret_provider_classes(
    harness: Harness, client: CsiClient, ns: str
) -> None:
    """Publishes read the SPC from the driver's watch cache: an SPC created after the driver started is
    found, an edit reaches the next publish, a deleted SPC is NOT_FOUND."""
    harness.object("a", "first")
    harness.object("b", "second")
    start(harness)
    await wait_until(
        lambda: "SecretProviderClass cache synced" in harness.driver_log.read_text(), "cache sync"
    )
    spc(ns, "app", {"pw": "a"})  # created after the list: a cache miss, read with a GET
    pods = [pending_pod(ns, f"web-{i}") for i in range(3)]
    await client.publish(harness.target("web-0"), ctx_for(pods[0], "app"))
    assert (harness.target("web-0") / "pw").read_text() == "first"
    spc(ns, "app", {"pw": "b"})
    await asyncio.sleep(1)
    await client.publish(harness.target("web-1"), ctx_for(pods[1], "app"))
    assert (harness.target("web-1") / "pw").read_text() == "second"
    kubectl("delete", "secretproviderclass", "-n", ns, "app")
    await asyncio.sleep(1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await client.publish(harness.target("web-2"), ctx_for(pods[2], "app"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
