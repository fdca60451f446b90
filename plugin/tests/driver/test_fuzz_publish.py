"""Bad input through the driver's socket: hypothesis-generated NodePublishVolume requests (volume contexts
with known and random keys, names that try to leave their namespace, broken token JSON, secrets maps,
target paths that are relative, hold `..` or NUL, or are very long, missing capabilities, readonly false)
against one real driver process on a real unix socket, with the test provider and real tmpfs mounts.

For every request: the driver answers in time with OK or a gRPC status other than UNKNOWN and not its
"unexpected error" (an unhandled exception); it is still running; on an error nothing is mounted at the
target; no mount appears anywhere but the requested target; nothing appears in the test's directory
outside the pods' tree. Successful mounts are unpublished again. NodeUnpublishVolume gets random targets too,
including a non-empty neighbour directory and the test's root: clean statuses, nothing removed outside the
target. Marker `integration` (root, tmpfs); SSC_FUZZ_EXAMPLES sets the number of requests (300).
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secrets_store_csi.driver.mount import mount_points
from secrets_store_csi.proto.csi.v1 import csi_pb2, csi_pb2_grpc

from .conftest import CAPABILITY, Harness

pytestmark = pytest.mark.integration

KNOWN_KEYS = [
    "secretProviderClass",
    "csi.storage.k8s.io/pod.name",
    "csi.storage.k8s.io/pod.namespace",
    "csi.storage.k8s.io/pod.uid",
    "csi.storage.k8s.io/serviceAccount.name",
    "csi.storage.k8s.io/serviceAccount.tokens",
    "csi.storage.k8s.io/ephemeral",
    "objects",
    "mode",
]
TRICKY = [
    "",
    ".",
    "..",
    "../..",
    "../shop",
    "shop/db",
    "%2e%2e",
    "/",
    "db",
    "shop",
    "p",
    "a\x00b",
    "db?x=1#y",
    "x" * 300,
]
TOKENS = ['{"vault": {"token": "eyJx.eyJy.z"}}', "[]", "{", "null", '{"a": 1}', '"s"']
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
value = st.one_of(st.sampled_from(TRICKY + TOKENS), text)
# Half the contexts are nearly valid (the class shop/db exists), so the deeper code is reached too.
valid_context = st.fixed_dictionaries(
    {
        "secretProviderClass": st.sampled_from(["db", "db", "missing", "../shop/db", "db/..", "..", "%2e"]),
        "csi.storage.k8s.io/pod.name": st.sampled_from(["p", "p", "../p", "p/x", "", "."]),
        "csi.storage.k8s.io/pod.namespace": st.sampled_from(["shop", "shop", "other", "../shop", "", ".."]),
        "csi.storage.k8s.io/pod.uid": st.sampled_from(["u1", "", "../u"]),
    },
    optional={
        "csi.storage.k8s.io/serviceAccount.tokens": st.sampled_from(TOKENS),
        "csi.storage.k8s.io/serviceAccount.name": value,
        "csi.storage.k8s.io/ephemeral": st.sampled_from(["true", "false", "x"]),
        "mode": st.sampled_from(["420", "-1", "99999999", "x"]),
    },
)
VALID = {
    "secretProviderClass": "db",
    "csi.storage.k8s.io/pod.name": "p",
    "csi.storage.k8s.io/pod.namespace": "shop",
    "csi.storage.k8s.io/pod.uid": "u1",
}
contexts = st.one_of(valid_context, st.dictionaries(st.sampled_from(KNOWN_KEYS) | text, value, max_size=8))
secrets = st.dictionaries(
    st.sampled_from(["access_key_id", "csi.storage.k8s.io/serviceAccount.tokens"]) | text, value, max_size=4
)
segment = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)


@st.composite
def targets(draw: Any, pods: str) -> str:
    kind = draw(st.sampled_from(["good", "good", "dotdot", "relative", "nul", "long", "empty", "trailing"]))
    name = draw(segment)
    good = f"{pods}/{name}/volumes/kubernetes.io~csi/secrets/mount"
    return {
        "good": good,
        "dotdot": f"{pods}/{name}/../../escape-{name}/mount",
        "relative": f"pods/{name}/mount",
        "nul": f"{pods}/{name}\x00/mount",
        "long": f"{pods}/" + "x" * 5000,
        "empty": "",
        "trailing": good + "/",
    }[kind]


def _mounts_under(root: Path) -> set[str]:
    return {p for p in mount_points() if p.startswith(str(root) + "/")}


@pytest.fixture
def driver(harness: Harness) -> Harness:
    harness.object("pw", "fuzz-secret")
    harness.spc("shop", "db", {"pw": "pw"})
    harness.start_provider()
    harness.start_driver()
    return harness


def test_random_node_publish_requests_get_a_clean_status_and_never_mount_or_write_elsewhere(
    driver: Harness,
) -> None:
    h = driver
    channel = grpc.insecure_channel(f"unix:{h.socket}")
    node = csi_pb2_grpc.NodeStub(channel)
    # What may exist beside the pods' tree: the harness's directories, logs, the provider's call log.
    outside_before = {p.name for p in h.root.iterdir()} | {"provider-calls", "driver.log"}
    tried: dict[str, int] = {}
    other: set[str] = set()

    @settings(
        max_examples=int(os.environ.get("SSC_FUZZ_EXAMPLES", "300")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        near_valid=st.booleans(),
        extra=st.dictionaries(text, value, max_size=3),
        ctx=contexts,
        secret_map=secrets,
        target=targets(str(h.pods)),
        good_target=segment.map(lambda n: f"{h.pods}/{n}/volumes/kubernetes.io~csi/secrets/mount"),
        readonly=st.booleans(),
        capability=st.sampled_from(["mount", "mount", "block", "none"]),
        volume_id=st.sampled_from(["vol", "", "v/../x"]) | text,
    )
    def publish(
        near_valid: bool,
        extra: dict[str, str],
        ctx: dict[str, str],
        secret_map: dict[str, str],
        target: str,
        good_target: str,
        readonly: bool,
        capability: str,
        volume_id: str,
    ) -> None:
        if near_valid:  # a valid request with random extra attributes and secrets: reaches the provider
            ctx = {**extra, **VALID}
            target, readonly, capability, volume_id = good_target, True, "mount", volume_id or "vol"
        if "\x00" not in target and target.startswith("/") and ".." not in target.split("/"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        cap = {
            "mount": CAPABILITY,
            "block": csi_pb2.VolumeCapability(block=csi_pb2.VolumeCapability.BlockVolume()),
            "none": None,
        }[capability]
        request = csi_pb2.NodePublishVolumeRequest(
            volume_id=volume_id, target_path=target, readonly=readonly, volume_context=ctx, secrets=secret_map
        )
        if cap is not None:
            request.volume_capability.CopyFrom(cap)
        before = _mounts_under(h.root)
        try:
            node.NodePublishVolume(request, timeout=30)
            outcome = "OK"
        except grpc.RpcError as exc:
            outcome = exc.code().name
            assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED), (
                exc.details()
            )
            assert "unexpected error" not in (exc.details() or ""), exc.details()
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                other.add(f"{outcome}: {(exc.details() or '')[:160]}")
        tried[outcome] = tried.get(outcome, 0) + 1
        assert h.procs["driver"].poll() is None, "the driver exited"
        new = _mounts_under(h.root) - before
        if outcome == "OK":
            assert new <= {os.path.normpath(target)}, new
            assert (Path(target) / "pw").read_bytes() == b"fuzz-secret"
            node.NodeUnpublishVolume(
                csi_pb2.NodeUnpublishVolumeRequest(volume_id=volume_id or "v", target_path=target), timeout=30
            )
            assert _mounts_under(h.root) <= before
        else:
            assert new == set(), f"{outcome} yet mounted {new}"
        assert {p.name for p in h.root.iterdir()} <= outside_before, (
            "an entry appeared outside the pods' tree"
        )

    try:
        publish()
    finally:
        channel.close()
    print(f"\nNodePublishVolume outcomes: {tried}")
    for line in sorted(other):
        print("  " + line)
    assert tried.get("OK", 0) > 0 and tried.get("INVALID_ARGUMENT", 0) > 0, tried


def test_random_node_unpublish_requests_touch_nothing_outside_the_target(driver: Harness) -> None:
    h = driver
    channel = grpc.insecure_channel(f"unix:{h.socket}")
    node = csi_pb2_grpc.NodeStub(channel)
    # A neighbour the requests must never remove: a non-empty directory beside the pods' tree.
    keep = h.root / "keep"
    keep.mkdir()
    (keep / "file").write_text("x")
    tried: dict[str, int] = {}

    @settings(
        max_examples=int(os.environ.get("SSC_FUZZ_EXAMPLES", "300")) // 3,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(
        target=targets(str(h.pods)) | st.sampled_from([str(keep), f"{h.pods}/../keep", str(h.root)]),
        volume_id=st.sampled_from(["vol", ""]) | text,
    )
    def unpublish(target: str, volume_id: str) -> None:
        try:
            node.NodeUnpublishVolume(
                csi_pb2.NodeUnpublishVolumeRequest(volume_id=volume_id, target_path=target), timeout=30
            )
            outcome = "OK"
        except grpc.RpcError as exc:
            outcome = exc.code().name
            assert exc.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED), (
                exc.details()
            )
            assert "unexpected error" not in (exc.details() or ""), exc.details()
        tried[outcome] = tried.get(outcome, 0) + 1
        assert h.procs["driver"].poll() is None, "the driver exited"
        assert (keep / "file").read_text() == "x"
        assert h.pods.is_dir() and (h.spcs / "shop" / "db.yaml").exists()

    try:
        unpublish()
    finally:
        channel.close()
    print(f"\nNodeUnpublishVolume outcomes: {tried}")
    assert tried.get("INVALID_ARGUMENT", 0) > 0, tried
