"""ClusterCSIDriver spec -> driver chart values, and the spec checks the CRD cannot make."""

from typing import Any

import pytest

from secrets_store_csi.operator.values import (
    InvalidSpec,
    OperatorConfig,
    driver_values,
    format_interval,
    management_state,
)

CONFIG = OperatorConfig(namespace="ns", chart="/charts/x")


def secrets_store(**fields: Any) -> dict[str, Any]:
    return {
        "managementState": "Managed",
        "driverConfig": {"driverType": "SecretsStore", "secretsStore": fields},
    }


@pytest.mark.parametrize(("level", "verbosity"), [("Normal", 2), ("Debug", 4), ("Trace", 6), ("TraceAll", 8)])
def test_log_level_sets_the_driver_verbosity(level: str, verbosity: int) -> None:
    assert driver_values({"logLevel": level}, CONFIG)["logVerbosity"] == verbosity


def test_absent_log_level_is_normal() -> None:
    assert driver_values({"managementState": "Managed"}, CONFIG)["logVerbosity"] == 2


def test_unknown_log_level_is_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidSpec, match=r"spec\.logLevel 'Chatty'") as info:
        driver_values({"logLevel": "Chatty"}, CONFIG)
    assert info.value.reason == "InvalidLogLevel"


def test_unknown_operator_log_level_is_refused() -> None:
    with pytest.raises(InvalidSpec, match=r"spec\.operatorLogLevel"):
        driver_values({"operatorLogLevel": "Loud"}, CONFIG)


@pytest.mark.parametrize("state", ["Managed", "Unmanaged", "Removed", "Force"])
def test_management_states_are_accepted(state: str) -> None:
    assert management_state({"managementState": state}) == state


def test_absent_management_state_means_managed() -> None:
    assert management_state({}) == "Managed"


def test_unknown_management_state_is_refused() -> None:
    with pytest.raises(InvalidSpec) as info:
        management_state({"managementState": "Paused"})
    assert info.value.reason == "InvalidManagementState"


def test_without_secrets_store_config_the_operator_defaults_apply() -> None:
    config = OperatorConfig(
        namespace="ns",
        chart="c",
        rotation_enabled=True,
        rotation_poll_interval="5m",
        token_requests=({"audience": "vault"},),
    )
    values = driver_values({"managementState": "Managed"}, config)
    assert values["enableSecretRotation"] is True
    assert values["rotationPollInterval"] == "5m"
    assert values["tokenRequests"] == [{"audience": "vault"}]


def test_rotation_type_none_turns_rotation_off() -> None:
    values = driver_values(secrets_store(secretRotation={"type": "None"}), CONFIG)
    assert values["enableSecretRotation"] is False


def test_custom_rotation_sets_the_poll_interval() -> None:
    values = driver_values(
        secrets_store(secretRotation={"type": "Custom", "custom": {"minimumRefreshAge": 90}}), CONFIG
    )
    assert values["enableSecretRotation"] is True
    assert values["rotationPollInterval"] == "90s"


@pytest.mark.parametrize("age", [0, -1, 31560001, "2m", True])
def test_custom_rotation_with_an_impossible_age_is_refused(age: object) -> None:
    with pytest.raises(InvalidSpec, match="minimumRefreshAge") as info:
        driver_values(
            secrets_store(secretRotation={"type": "Custom", "custom": {"minimumRefreshAge": age}}), CONFIG
        )
    assert info.value.reason == "InvalidSecretRotation"


def test_whole_minutes_are_written_as_minutes() -> None:
    assert format_interval(120) == "2m"
    assert format_interval(61) == "61s"


def test_managed_token_requests_replace_the_defaults() -> None:
    config = OperatorConfig(namespace="ns", chart="c", token_requests=({"audience": "default"},))
    spec = secrets_store(
        tokenRequests={
            "type": "Managed",
            "managed": {
                "audiences": [
                    {"audience": "sts.amazonaws.com"},
                    {"audience": "vault", "expirationSeconds": 3600},
                ]
            },
        }
    )
    assert driver_values(spec, config)["tokenRequests"] == [
        {"audience": "sts.amazonaws.com"},
        {"audience": "vault", "expirationSeconds": 3600},
    ]


def test_unmanaged_token_requests_keep_the_defaults() -> None:
    config = OperatorConfig(namespace="ns", chart="c", token_requests=({"audience": "default"},))
    assert driver_values(secrets_store(tokenRequests={"type": "Unmanaged"}), config)["tokenRequests"] == [
        {"audience": "default"}
    ]


def test_a_duplicate_audience_is_refused() -> None:
    spec = secrets_store(
        tokenRequests={"type": "Managed", "managed": {"audiences": [{"audience": "a"}, {"audience": "a"}]}}
    )
    with pytest.raises(InvalidSpec, match="listed twice"):
        driver_values(spec, CONFIG)


def test_a_token_shorter_than_the_kubelet_allows_is_refused() -> None:
    spec = secrets_store(
        tokenRequests={
            "type": "Managed",
            "managed": {"audiences": [{"audience": "a", "expirationSeconds": 60}]},
        }
    )
    with pytest.raises(InvalidSpec, match="expirationSeconds"):
        driver_values(spec, CONFIG)


def test_another_drivers_type_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="driverType 'AWS'") as info:
        driver_values({"driverConfig": {"driverType": "AWS"}}, CONFIG)
    assert info.value.reason == "InvalidDriverConfig"


def test_spec_settings_win_over_the_operators_base_values_and_the_rest_is_kept() -> None:
    config = OperatorConfig(
        namespace="ns",
        chart="c",
        base_values={"logVerbosity": 9, "linux": {"image": {"repository": "r", "tag": "t"}}},
    )
    values = driver_values({"logLevel": "Debug"}, config)
    assert values["logVerbosity"] == 4
    assert values["linux"] == {"image": {"repository": "r", "tag": "t"}}
    assert config.base_values["logVerbosity"] == 9  # the operator's own config is never mutated
