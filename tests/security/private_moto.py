"""A moto server of one test module's own, with IAM enforcement on, and the STS front the AWS provider's
IRSA call needs to reach it (tests/security/test_isolation_aws.py).

Why private: moto evaluates IAM policies only when the whole server enforces them (its
INITIAL_NO_AUTH_ACTION_COUNT setting is process-wide), which would refuse the static test keys every other
tier sends to the shared moto on :15000.

Why a front for STS: with enforcement on, moto 5.x authenticates every request before dispatching it and
reads the `Authorization` header unconditionally (moto/iam/access_control.py, `IAMRequestBase.__init__`:
`self._headers["Authorization"]`); its only exemptions are a few Cognito operations named by
`X-Amz-Target` (moto/core/authorization.py, `PUBLIC_OPERATIONS`). AssumeRoleWithWebIdentity is unsigned by
definition (botocore's STS model marks it `noAuth`, and the provider sends it UNSIGNED like every AWS SDK),
so an enforcing moto answers it with HTTP 500 (KeyError 'HTTP_AUTHORIZATION'). `StsFront` signs exactly
those calls with a key of an IAM user allowed `sts:AssumeRoleWithWebIdentity` only, then forwards them;
everything else passes through untouched. The front adds no policy decision of its own: the credentials
moto issues are for the role named in the call, and every Secrets Manager request the provider then makes
goes straight to moto, which evaluates that role's policies.

moto does not verify the web identity token nor evaluate a role's trust policy on AssumeRoleWithWebIdentity
(it checks trust only for sts:AssumeRole, moto/iam/utils.py `REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK`), so
the front records which service account's token (the JWT's `sub` claim, read without verification) asked
for which role; the test asserts each role was assumed with the token of the account that names it. The
token itself is never kept.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# The requests moto lets through before it enforces IAM: CreateUser, PutUserPolicy, CreateAccessKey of the
# test's admin user (`PrivateMoto.start`). Every later request must be signed by a known key and allowed.
BOOTSTRAP_ACTIONS = 3
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port: int = s.getsockname()[1]
        return port


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class PrivateMoto:
    """`moto_server` on a free port of every address, enforcing IAM after the admin user exists.

    `admin` holds boto3 client arguments signed by that user (allowed everything); `client(service)` makes
    one. Stop with `stop()` (the process group is ended)."""

    def __init__(self, workdir: Path, moto_server: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        self._bin = moto_server or Path(sys.executable).parent / "moto_server"
        self._proc: subprocess.Popen[bytes] | None = None
        self.admin: dict[str, str] = {}

    def start(self) -> PrivateMoto:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_ACTIONS)}
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [str(self._bin), "-H", "0.0.0.0", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"private moto did not start: {self.log_path.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        bootstrap = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="x",
        )
        bootstrap.create_user(UserName="ssc-test-admin")
        bootstrap.put_user_policy(
            UserName="ssc-test-admin", PolicyName="everything", PolicyDocument=json.dumps(ALLOW_ALL)
        )
        key = bootstrap.create_access_key(UserName="ssc-test-admin")["AccessKey"]
        self.admin = {
            "endpoint_url": self.url,
            "region_name": REGION,
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }
        self._assert_enforcing(bootstrap)
        return self

    def _assert_enforcing(self, unknown_key_client: Any) -> None:
        """The bootstrap key is no IAM user's: an enforcing moto refuses it."""
        try:
            unknown_key_client.list_users()
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status == 403, f"moto refused an unknown key with HTTP {status}, expected 403"
            return
        raise AssertionError("the private moto accepted an unknown access key: IAM is not enforced")

    def client(self, service: str) -> Any:
        return boto3.client(service, **self.admin)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(10)

    def web_identity_role(self, name: str, issuer: str, subject: str, permissions: str) -> str:
        """A role whose trust policy admits `subject`'s web identity tokens from `issuer` (as EKS writes
        it; moto keeps it but does not evaluate it), with one inline permissions policy. Returns its ARN."""
        host = issuer.removeprefix("https://")
        trust = policy(
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
            }
        )
        iam = self.client("iam")
        arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-permissions", PolicyDocument=permissions)
        return arn

    def signing_user(self, name: str, permissions: str) -> Credentials:
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-permissions", PolicyDocument=permissions)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def jwt_subject(token: str) -> str:
    """The `sub` claim of a JWT, read without verifying it (moto does not verify it either)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub", ""))
    except (IndexError, ValueError):
        return "<not a JWT>"


class StsFront:
    """HTTP front of the private moto for STS: signs unsigned AssumeRoleWithWebIdentity calls with
    `signer` (SigV4, service sts) and forwards every request; records (RoleArn, token subject) per call."""

    def __init__(self, upstream_port: int, signer: Credentials) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.signer = signer
        self.calls: list[tuple[str, str]] = []  # (role ARN, the token's sub claim)
        self._lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
                headers["Host"] = f"{front.upstream[0]}:{front.upstream[1]}"
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                if "Authorization" not in self.headers and form.get("Action") == [
                    "AssumeRoleWithWebIdentity"
                ]:
                    with front._lock:
                        front.calls.append(
                            (form.get("RoleArn", [""])[0], jwt_subject(form.get("WebIdentityToken", [""])[0]))
                        )
                    headers = front._signed(self.command, self.path, headers, body)
                conn = http.client.HTTPConnection(*front.upstream, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for key, value in resp.getheaders():
                        if key.lower() not in _HOP_BY_HOP:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="sts-front", daemon=True)

    def _signed(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        url = f"http://{self.upstream[0]}:{self.upstream[1]}{path}"
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self.signer, "sts", REGION).add_auth(request)
        return dict(request.headers.items())

    def start(self) -> StsFront:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def private_moto_with_sts_front(workdir: Path) -> Iterator[tuple[PrivateMoto, StsFront]]:
    """The private enforcing moto and its STS front, stopped on the way out."""
    moto = PrivateMoto(workdir).start()
    try:
        signer = moto.signing_user(
            "ssc-sts-front",
            policy({"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Resource": "*"}),
        )
        front = StsFront(moto.port, signer).start()
        try:
            yield moto, front
        finally:
            front.stop()
    finally:
        moto.stop()
