"""The command line: flags into the operator's configuration; a waiting replica still answers its probe."""

import socket

import aiohttp

from secrets_store_csi.operator.main import candidate_health, operator_config, parse_args


def test_flags_become_the_operators_defaults() -> None:
    config = operator_config(
        parse_args(
            [
                "--namespace",
                "ns",
                "--chart",
                "/c",
                "--no-rotation",
                "--token-request",
                "vault:3600",
                "--token-request",
                "sts.amazonaws.com",
            ]
        )
    )
    assert config.namespace == "ns"
    assert config.chart == "/c"
    assert config.rotation_enabled is False
    assert config.token_requests == (
        {"audience": "vault", "expirationSeconds": 3600},
        {"audience": "sts.amazonaws.com"},
    )


async def test_a_replica_waiting_for_the_lease_answers_the_liveness_probe() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with (
        candidate_health(f"http://127.0.0.1:{port}/healthz"),
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
    async with aiohttp.ClientSession() as session:
        try:
            await session.get(f"http://127.0.0.1:{port}/healthz")
        except aiohttp.ClientConnectionError:
            pass
        else:
            raise AssertionError("the candidate's probe endpoint outlived the wait: kopf could not bind it")
