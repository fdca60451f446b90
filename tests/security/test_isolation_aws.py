"""Isolation by identity with AWS IAM: two pods (three) with different service accounts mount the same
SecretProviderClass; each fetch uses credentials STS issued for the role of the pod's own account (IRSA),
and the role IAM denies fails its pod alone.

The backend is a moto server of this module's own with IAM enforcement on (private_moto.py says why it
is private, and why AssumeRoleWithWebIdentity reaches it through a signing front). The tier's AWS provider
release is pointed at it for the module through the chart's endpoint values (`aws.endpointUrl`,
`aws.stsEndpointUrl`), the configuration a user has for a VPC endpoint or an emulator, and rolled back to
the tier's values afterwards (the tier's stack holds the cluster driver lock throughout).

- alice's role allows secretsmanager:GetSecretValue: her pod runs and reads the value.
- bob's role allows secretsmanager:* but denies GetSecretValue explicitly: the Deny wins.
- carol's role allows nothing in Secrets Manager.
bob and carol stay ContainerCreating with a FailedMount event saying AccessDenied for the object, and no
event carries the value. The denial is moto's policy evaluation of the assumed-role credentials.

moto checks the policy's Action but not its Resource for Secrets Manager (it authorizes every Secrets
Manager call against resource `*`), so the policies here name `*`; per-secret Resource scoping is not
proven by this test. moto also does not evaluate trust policies on AssumeRoleWithWebIdentity: the STS
front records the subject of the token each role was assumed with, and the test asserts it is the
service account that carries the role's annotation.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import pytest
from kubecluster import Cluster
from private_moto import PrivateMoto, StsFront, policy, private_moto_with_sts_front
from security_support import SessionStack, failed_mount
from stack import CHARTS, Stack, secret_pod, secret_provider_class

pytestmark = [pytest.mark.cluster, pytest.mark.emulators]

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
READ = policy(
    {
        "Effect": "Allow",
        "Action": [
            "secretsmanager:GetSecretValue",
            "secretsmanager:DescribeSecret",
            "secretsmanager:BatchGetSecretValue",
        ],
        "Resource": "*",
    }
)
ALLOW_BUT_DENY_READ = policy(
    {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
)
NOTHING_IN_SECRETS_MANAGER = policy({"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "*"})


@pytest.fixture(scope="module")
def private_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateMoto, StsFront]]:
    with private_moto_with_sts_front(tmp_path_factory.mktemp("iam-moto")) as pair:
        yield pair


@pytest.fixture(scope="module")
def aws_provider_on_private_moto(
    session_stack: SessionStack, private_moto: tuple[PrivateMoto, StsFront]
) -> Iterator[None]:
    """The tier's AWS provider release upgraded to reach the private moto (every service) and its STS front
    (STS), over the node's address; rolled back to the revision it had."""
    assert not session_stack.closed, "the stack was uninstalled by the canary scan, which must run last"
    stack = session_stack.stack
    moto, front = private_moto
    host = stack.emulators["EMULATOR_HOST_IP"]
    release, ns = stack.releases["aws"], stack.namespace
    cluster = stack.cluster
    before = json.loads(cluster.helm("status", release, "-n", ns, "-o", "json").stdout)["version"]
    upgraded = cluster.helm(
        "upgrade",
        release,
        str(CHARTS / "secrets-store-csi-provider-aws"),
        "-n",
        ns,
        "--reuse-values",
        "--set",
        f"aws.endpointUrl=http://{host}:{moto.port}",
        "--set",
        f"aws.stsEndpointUrl=http://{host}:{front.port}",
        "--wait",
        "--timeout",
        "5m",
        check=False,
        timeout=360,
    )
    try:
        assert upgraded.returncode == 0, f"helm upgrade {release}: {upgraded.stderr}"
        yield
    finally:
        back = cluster.helm(
            "rollback", release, str(before), "-n", ns, "--wait", "--timeout", "5m", check=False, timeout=360
        )
        assert back.returncode == 0, f"helm rollback {release} {before}: {back.stderr}"


@pytest.fixture
def iam_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"iam-iso-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def token_issuer(cluster: Cluster, namespace: str, account: str) -> str:
    """The cluster's service-account token issuer (the `iss` claim), as an OIDC provider would be named."""
    token = cluster.kubectl(
        "-n", namespace, "create", "token", account, "--audience=sts.amazonaws.com", "--duration=10m"
    ).stdout.strip()
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iss"])


def test_each_pod_fetches_with_its_own_iam_role_and_a_denied_one_fails_alone(
    cluster: Cluster,
    stack: Stack,
    private_moto: tuple[PrivateMoto, StsFront],
    aws_provider_on_private_moto: None,
    iam_namespace: str,
) -> None:
    moto, front = private_moto
    ns = iam_namespace
    name = f"iso-{uuid.uuid4().hex[:10]}"
    value = f"alice-{uuid.uuid4().hex}"
    moto.client("secretsmanager").create_secret(Name=name, SecretString=value)

    permissions = {"alice": READ, "bob": ALLOW_BUT_DENY_READ, "carol": NOTHING_IN_SECRETS_MANAGER}
    cluster.apply(
        [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa}} for sa in permissions], ns
    )
    issuer = token_issuer(cluster, ns, "alice")
    subjects = {sa: f"system:serviceaccount:{ns}:{sa}" for sa in permissions}
    roles = {
        sa: moto.web_identity_role(f"{ns}-{sa}", issuer, subjects[sa], allowed)
        for sa, allowed in permissions.items()
    }
    for sa, role in roles.items():
        cluster.kubectl("-n", ns, "annotate", "serviceaccount", sa, f"{ROLE_ANNOTATION}={role}")
    objects = {"objects": [{"objectName": name, "objectType": "secretsmanager"}], "region": "us-east-1"}
    cluster.apply(
        [
            secret_provider_class("shared", "aws", objects),
            *(secret_pod(sa, "shared", service_account=sa) for sa in permissions),
        ],
        ns,
    )

    stack.wait_ready(ns, ["alice"])
    assert stack.read(ns, "alice", f"/mnt/secrets/{name}") == value
    denied = [failed_mount(stack, ns, sa, "AccessDenied", name, "GetSecretValue") for sa in ("bob", "carol")]
    # The denied pods' retries change nothing for the one that works.
    assert stack.read(ns, "alice", f"/mnt/secrets/{name}") == value

    # Each role was assumed with the token of the account that names it, and only with that one.
    assumed = {(role, sub) for role, sub in front.calls if role in roles.values()}
    assert assumed == {(roles[sa], subjects[sa]) for sa in permissions}, front.calls
    # No event of the namespace carries the value (the denials name the object only).
    messages = [e.get("message", "") for e in stack.events(ns)]
    assert not [m for m in messages if value in m]
    assert len(denied) == 2
