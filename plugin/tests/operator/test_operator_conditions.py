"""Status conditions from what a pass observed; lastTransitionTime and transitions."""

from typing import Any

from secrets_store_csi.operator.conditions import DaemonSetState, Observation, merge, observe, transitions
from secrets_store_csi.operator.reconcile import build_status


def ds(
    desired: int = 1, available: int = 1, updated: int = 1, generation: int = 1, observed: int = 1
) -> DaemonSetState:
    return DaemonSetState("ns", "driver", generation, observed, desired, available, available, updated)


def by_type(obs: Observation) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in observe(obs)}


def test_a_rolled_out_daemonset_is_available_and_not_progressing() -> None:
    got = by_type(Observation("Managed", ds()))
    assert got["Available"] == ("True", "AsExpected")
    assert got["Progressing"] == ("False", "AsExpected")
    assert got["Degraded"] == ("False", "AsExpected")


def test_openshift_style_node_service_conditions_mirror_the_generic_ones() -> None:
    got = by_type(Observation("Managed", ds(available=0)))
    for kind in ("Available", "Progressing", "Degraded"):
        assert got[f"SecretsStoreDriverNodeServiceController{kind}"] == got[kind]


def test_a_daemonset_with_pods_not_yet_available_is_progressing() -> None:
    got = by_type(Observation("Managed", ds(desired=2, available=1)))
    assert got["Available"][0] == "True"
    assert got["Progressing"] == ("True", "RollingOut")


def test_a_daemonset_whose_new_generation_is_not_yet_observed_is_progressing() -> None:
    assert by_type(Observation("Managed", ds(generation=3, observed=2)))["Progressing"][0] == "True"


def test_no_available_pod_means_not_available() -> None:
    assert by_type(Observation("Managed", ds(desired=1, available=0)))["Available"] == (
        "False",
        "NoDriverPodAvailable",
    )


def test_a_foreign_driver_is_degraded_with_its_name_in_the_message() -> None:
    conditions = {
        c.type: c
        for c in observe(Observation("Managed", None, foreign=["CSIDriver secrets-store.csi.k8s.io"]))
    }
    assert conditions["Degraded"].status == "True"
    assert conditions["Degraded"].reason == "ForeignDriverInstalled"
    assert "CSIDriver secrets-store.csi.k8s.io" in conditions["Degraded"].message
    assert conditions["Available"].status == "False"


def test_an_invalid_spec_is_degraded_but_the_running_driver_stays_available() -> None:
    got = by_type(Observation(None, ds(), invalid=("InvalidManagementState", "bad")))
    assert got["Degraded"] == ("True", "InvalidManagementState")
    assert got["Available"] == ("True", "InvalidSpec")
    assert got["Progressing"] == ("False", "InvalidSpec")


def test_unmanaged_says_so_and_is_never_degraded() -> None:
    conditions = {c.type: c for c in observe(Observation("Unmanaged", ds()))}
    assert conditions["Progressing"].reason == "Unmanaged"
    assert "changes nothing" in conditions["Progressing"].message
    assert conditions["Degraded"].status == "False"


def test_removed_is_progressing_until_everything_is_gone() -> None:
    assert by_type(Observation("Removed", None, remaining=["DaemonSet ns/driver"]))["Progressing"] == (
        "True",
        "Removing",
    )
    got = by_type(Observation("Removed", None))
    assert got["Progressing"] == ("False", "Removed")
    assert got["Available"] == ("False", "Removed")


def test_unchanged_statuses_keep_their_transition_time() -> None:
    first = merge([], observe(Observation("Managed", ds())), "2026-01-01T00:00:00Z")
    again = merge(first, observe(Observation("Managed", ds())), "2026-02-02T00:00:00Z")
    assert again == first


def test_a_changed_status_gets_a_new_transition_time() -> None:
    first = merge([], observe(Observation("Managed", ds())), "T1")
    later = {c["type"]: c for c in merge(first, observe(Observation("Managed", ds(available=0))), "T2")}
    assert later["Available"]["lastTransitionTime"] == "T2"
    assert later["Degraded"]["lastTransitionTime"] == "T1"


def test_conditions_of_other_writers_are_kept() -> None:
    other = {
        "type": "ManagementStateDegraded",
        "status": "False",
        "lastTransitionTime": "T0",
        "reason": "",
        "message": "",
    }
    merged = merge([other], observe(Observation("Managed", ds())), "T1")
    assert other in merged


def test_each_generic_status_change_is_one_transition() -> None:
    before = merge([], observe(Observation("Managed", ds())), "T1")
    moved = transitions(before, observe(Observation("Managed", None, foreign=["DaemonSet kube-system/csi"])))
    assert {(t.type, t.after) for t in moved} == {("Available", "False"), ("Degraded", "True")}
    assert all(t.bad for t in moved)


def test_no_transition_when_nothing_changed() -> None:
    before = merge([], observe(Observation("Managed", ds())), "T1")
    assert transitions(before, observe(Observation("Managed", ds()))) == []


def test_status_carries_generation_counts_and_the_daemonset() -> None:
    ccd = {"metadata": {"name": "secrets-store.csi.k8s.io", "generation": 7}, "status": {}}
    status, moved = build_status(
        ccd, Observation("Managed", ds(desired=3, available=2, updated=3, generation=4, observed=4)), "T"
    )
    assert status["observedGeneration"] == 7
    assert status["readyReplicas"] == 2
    assert status["daemonSet"]["desiredNumberScheduled"] == 3
    assert status["daemonSet"]["numberAvailable"] == 2
    assert status["generations"] == [
        {
            "group": "apps",
            "resource": "daemonsets",
            "namespace": "ns",
            "name": "driver",
            "lastGeneration": 4,
            "hash": "",
        }
    ]
    assert {t.type for t in moved} == {"Available", "Progressing", "Degraded"}


def test_the_same_observation_twice_builds_the_same_status() -> None:
    ccd: dict[str, Any] = {"metadata": {"generation": 1}, "status": {}}
    first, _ = build_status(ccd, Observation("Managed", ds()), "T1")
    ccd["status"] = first
    second, moved = build_status(ccd, Observation("Managed", ds()), "T2")
    assert second == first
    assert moved == []


def test_a_daemonset_the_controller_has_not_seen_yet_is_not_available() -> None:
    """A just-created DaemonSet reports 0 of 0 pods: that is not "no node needs one"."""
    fresh = DaemonSetState("ns", "driver", generation=1, observed_generation=0, desired=0)
    got = by_type(Observation("Managed", fresh))
    assert got["Available"][0] == "False"
    assert got["Progressing"][0] == "True"


def test_no_node_to_run_on_is_available() -> None:
    empty = DaemonSetState("ns", "driver", generation=1, observed_generation=1, desired=0)
    assert by_type(Observation("Managed", empty))["Available"][0] == "True"
