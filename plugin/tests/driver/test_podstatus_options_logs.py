import json
import logging

import pytest

from secrets_store_csi.driver import logs, options
from secrets_store_csi.driver.mount import mount_points
from secrets_store_csi.driver.podstatus import NODE_LABEL, build_status


def test_pod_status_is_named_pod_namespace_spc_labelled_owned_and_sorted() -> None:
    body = build_status(
        "web-0", "shop", "uid-1", spc="db", node="node-a", target_path="/t", versions={"z": "1", "a": "2"}
    )
    meta = body["metadata"]
    assert meta["name"] == "web-0-shop-db"
    assert meta["labels"] == {NODE_LABEL: "node-a"}
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Pod", "name": "web-0", "uid": "uid-1"}]
    assert body["status"]["objects"] == [{"id": "a", "version": "2"}, {"id": "z", "version": "1"}]
    assert body["status"]["mounted"] is True and body["status"]["targetPath"] == "/t"


@pytest.mark.parametrize(
    ("text", "seconds"), [("2m", 120), ("1m30s", 90), ("500ms", 0.5), ("10", 10), ("1h", 3600)]
)
def test_durations_parse_like_go(text: str, seconds: float) -> None:
    assert options.parse_duration(text) == seconds


def test_flags_keep_upstream_names_and_defaults() -> None:
    opts = options.parse(
        [
            "--endpoint",
            "unix:///csi/csi.sock",
            "--nodeid",
            "n1",
            "--enable-secret-rotation=true",
            "--rotation-poll-interval",
            "30s",
            "--additional-provider-volume-paths",
            "/a,/b",
        ]
    )
    assert opts.socket_path() == "/csi/csi.sock"
    assert opts.enable_secret_rotation is True
    assert opts.rotation_poll_interval == 30
    assert opts.provider_dirs() == ["/var/run/secrets-store-csi-providers", "/a", "/b"]
    assert opts.max_call_recv_msg_size == 4 * 1024 * 1024
    assert opts.metrics_addr == ":8095"


def test_bad_duration_is_refused() -> None:
    with pytest.raises(SystemExit):
        options.parse(["--rotation-poll-interval", "soon"])


def _format(as_json: bool, msg: str, **extra: object) -> str:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": msg, "args": (), **extra})
    return logs._Formatter(as_json).format(record)


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"


def test_jwt_tokens_are_redacted_from_messages_and_fields() -> None:
    line = _format(True, f"calling with {JWT}", attrs=f'{{"x": "{JWT}"}}')
    assert JWT not in line
    assert "[REDACTED]" in json.loads(line)["msg"]


def test_service_account_tokens_field_is_redacted_even_without_a_jwt() -> None:
    text = '{"csi.storage.k8s.io/serviceAccount.tokens": "{\\"aud\\": {\\"token\\": \\"opaque-abc\\"}}"}'
    assert "opaque-abc" not in logs.redact_text(text)


def test_fields_named_like_secrets_are_redacted() -> None:
    line = _format(False, "x", secrets={"password": "hunter2"}, token="abc")
    assert "hunter2" not in line and "abc" not in line


def test_mountinfo_parsing_unescapes_spaces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    info = tmp_path / "mountinfo"
    info.write_text(
        "36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - tmpfs tmpfs rw\n"
        "37 35 98:0 / /plain rw - ext4 /dev/sda rw\n"
    )
    assert mount_points(str(info)) == {"/mnt/with space": "tmpfs", "/plain": "ext4"}
