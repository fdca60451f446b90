"""AWS provider: Secrets Manager and SSM Parameter Store behind one socket.

Calls per mount scale with objects, not with pods or files: SSM GetParameters takes 10 names per call and
Secrets Manager BatchGetSecretValue 20 secrets per call. On a remount (rotation) an object whose mounted
version is known not to have changed is served from this volume's previous answer: pinned versions without
any call, SSM latest versions after one DescribeParameters per 50 names. Secrets Manager secrets that
follow AWSCURRENT are re-read in batches, which costs fewer calls than one DescribeSecret per secret.

Credentials, in order: static keys from the nodePublishSecretRef Secret; EKS Pod Identity when
`usePodIdentity` is true; otherwise IRSA (the service account's `eks.amazonaws.com/role-arn` annotation,
the pod's token for audience `sts.amazonaws.com`, STS AssumeRoleWithWebIdentity). Endpoints, CA bundle and
retries come from the standard AWS configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>,
AWS_CA_BUNDLE, AWS_MAX_ATTEMPTS...).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import boto3
import jmespath
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

from secrets_store_csi.providers import metrics
from secrets_store_csi.providers.aws_params import SECRETS_MANAGER, SSM, AwsObject, AwsParams, parse_params
from secrets_store_csi.providers.errors import ErrorCode, ProviderError, invalid
from secrets_store_csi.providers.kubereads import KubeReads
from secrets_store_csi.providers.mountspec import MountResult, MountSpec

log = logging.getLogger(__name__)
T = TypeVar("T")

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
IRSA_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
POD_IDENTITY_ENDPOINTS = {
    "ipv4": "http://169.254.170.23/v1/credentials",
    "ipv6": "http://[fd00:ec2::23]/v1/credentials",
}
REGION_LABEL = "topology.kubernetes.io/region"
SSM_BATCH = 10
SM_BATCH = 20
DESCRIBE_BATCH = 50
CACHE_ENTRIES = 4096

NOT_FOUND_CODES = {
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "ParameterVersionLabelNotFound",
}
DENIED_CODES = {"AccessDeniedException", "AccessDenied"}
AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidIdentityToken",
}
THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)
    expires: float = float("inf")

    @property
    def identity(self) -> str:
        """Cache key of a credential set (a digest: never the secret key itself)."""
        return hashlib.sha256(f"{self.access_key}\0{self.secret_key}\0{self.token}".encode()).hexdigest()


@dataclass
class Fetched:
    """One object's value as the backend returned it."""

    version: str
    value: bytes = field(repr=False)


def is_denied(exc: ClientError) -> bool:
    """An authorization refusal: a denial code, or HTTP 403 with a code the service model does not know
    (an error body the SDK could not parse, e.g. an XML answer to a JSON API, leaves only the status)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    known = code in NOT_FOUND_CODES | AUTH_CODES | THROTTLE_CODES
    return code in DENIED_CODES or (status == 403 and not known)


def error_from_client(exc: Exception, obj: str | None, action: str) -> ProviderError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        cause = f"{action} failed: {code} (HTTP {status})"
        if code in NOT_FOUND_CODES:
            return ProviderError(ErrorCode.NOT_FOUND, f"{action}: not found ({code})", obj)
        if is_denied(exc):
            return ProviderError(ErrorCode.ACCESS_DENIED, f"{action}: access denied ({code})", obj)
        if code in AUTH_CODES or status == 401:
            return ProviderError(ErrorCode.UNAUTHENTICATED, cause, obj)
        if code in THROTTLE_CODES or status == 429:
            return ProviderError(ErrorCode.THROTTLED, cause, obj)
        if status >= 500:
            return ProviderError(ErrorCode.UNAVAILABLE, cause, obj)
        return ProviderError(ErrorCode.INVALID_PARAMETER, cause, obj)
    if isinstance(exc, EndpointConnectionError | BotoConnectionError | ReadTimeoutError):
        return ProviderError(
            ErrorCode.UNAVAILABLE, f"{action}: endpoint unreachable ({type(exc).__name__})", obj
        )
    if isinstance(exc, BotoCoreError):
        return ProviderError(ErrorCode.INTERNAL, f"{action}: {type(exc).__name__}", obj)
    return ProviderError(ErrorCode.INTERNAL, f"{action}: {type(exc).__name__}", obj)


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class AwsClients:
    """botocore clients per (credentials, region, service), created off the event loop and reused.

    Every request a client sends is counted (metric `secrets_store_provider_backend_calls_total`) and
    logged at debug level by a botocore event hook.
    """

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.session = boto3.session.Session()
        self.session.events.register("before-send", self._count)
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

    @staticmethod
    def _count(event_name: str = "", **kwargs: Any) -> None:
        # event_name is "before-send.<service>.<Operation>": one event per HTTP request, retries included.
        parts = event_name.split(".")
        operation = ".".join(parts[1:3]) if len(parts) >= 3 else event_name
        metrics.BACKEND_CALLS.labels("aws", operation).inc()
        log.debug("backend call aws %s", operation)

    def client(self, service: str, region: str, creds: Credentials | None) -> Any:
        key = (creds.identity if creds else "unsigned", region, service)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            config = Config(
                retries={"mode": "standard"},
                connect_timeout=5,
                read_timeout=20,
                user_agent_extra="secrets-store-csi-provider-aws",
            )
            if creds is None:
                config = config.merge(Config(signature_version=UNSIGNED))
                made = self.session.client(service, region_name=region, config=config)
            else:
                made = self.session.client(
                    service,
                    region_name=region,
                    config=config,
                    aws_access_key_id=creds.access_key,
                    aws_secret_access_key=creds.secret_key,
                    aws_session_token=creds.token,
                )
            self._clients[key] = made
            while len(self._clients) > 256:
                self._clients.popitem(last=False)
            return made

    async def call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)


class MountCache:
    """Values this provider returned for a volume, reused on its remount when the version is unchanged.

    Keyed by (pod uid, target path, file name): a value is only ever served back to the volume it was
    fetched for, so no pod can read another pod's secret through the cache. Bounded (LRU).
    """

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str, str], tuple[str, Fetched]] = OrderedDict()

    def get(self, spec: MountSpec, obj: AwsObject, selector: str) -> Fetched | None:
        key = (spec.pod.uid, spec.target_path, obj.file_name)
        entry = self._data.get(key)
        if entry is None or entry[0] != selector:
            return None
        if spec.current_versions.get(obj.file_name) != entry[1].version:
            return None  # the driver does not hold that version: fetch again
        self._data.move_to_end(key)
        return entry[1]

    def put(self, spec: MountSpec, obj: AwsObject, selector: str, fetched: Fetched) -> None:
        if not spec.pod.uid or not spec.target_path:
            return
        self._data[(spec.pod.uid, spec.target_path, obj.file_name)] = (selector, fetched)
        self._data.move_to_end((spec.pod.uid, spec.target_path, obj.file_name))
        while len(self._data) > self.size:
            self._data.popitem(last=False)


def selector_of(obj: AwsObject, region: str) -> str:
    return f"{region}|{obj.type}|{obj.name}|{obj.version}|{obj.label}|{obj.failover_name}"


class AwsProvider:
    name = "aws"

    def __init__(self, kube: KubeReads | None = None, executor: ThreadPoolExecutor | None = None) -> None:
        self.kube = kube
        self.executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="aws")
        self.clients = AwsClients(self.executor)
        self.cache = MountCache()
        self._sts_cache: dict[str, Credentials] = {}
        self._http: aiohttp.ClientSession | None = None
        self._node_region: str | None = None
        self._inflight: dict[tuple[Any, ...], asyncio.Future[dict[str, Any]]] = {}

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.kube is not None:
            await self.kube.close()
        self.executor.shutdown(wait=False)

    # ---- region and credentials -------------------------------------------------------------------

    async def region_for(self, params: AwsParams) -> str:
        if params.region:
            return params.region
        env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if env:
            return env
        node = os.environ.get("NODE_NAME")
        if node and self.kube is not None:
            if self._node_region is None:
                self._node_region = (await self.kube.node_labels(node)).get(REGION_LABEL, "")
            if self._node_region:
                return self._node_region
        raise invalid("no region: set the region parameter, AWS_REGION, or the node label " + REGION_LABEL)

    async def credentials(self, spec: MountSpec, params: AwsParams, region: str) -> Credentials:
        static = static_credentials(spec.secrets)
        if static is not None:
            return static
        if params.use_pod_identity:
            return await self.pod_identity_credentials(spec, params)
        return await self.irsa_credentials(spec, region)

    async def irsa_credentials(self, spec: MountSpec, region: str) -> Credentials:
        pod = spec.pod
        token = spec.token_for(IRSA_AUDIENCE)
        if not token:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                f"no service-account token for audience "
                f"{IRSA_AUDIENCE!r}: add it to the CSIDriver's tokenRequests, or use "
                "usePodIdentity or a nodePublishSecretRef",
            )
        if self.kube is None or not pod.namespace or not pod.service_account:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                "IRSA needs the pod's namespace and service account "
                "(podInfoOnMount) and Kubernetes API access",
            )
        annotations = await self.kube.service_account_annotations(pod.namespace, pod.service_account)
        role = annotations.get(ROLE_ANNOTATION, "")
        if not role:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                f"An IAM role must be associated with service account "
                f"{pod.namespace}/{pod.service_account} (annotation {ROLE_ANNOTATION})",
            )
        # The kubelet attests namespace and service account; STS's trust policy decides on exactly those
        # (the token's sub and aud), so credentials are shared by the pods of one service account and role.
        key = f"{role}\0{region}\0{pod.namespace}\0{pod.service_account}"
        cached = self._sts_cache.get(key)
        if cached is not None and cached.expires - 300 > time.time():
            return cached
        sts = await self.clients.call(lambda: self.clients.client("sts", region, None))
        session_name = f"secrets-store-csi-{(pod.uid or pod.name)[:32]}"
        try:
            out = await self.clients.call(
                lambda: sts.assume_role_with_web_identity(
                    RoleArn=role, RoleSessionName=session_name, WebIdentityToken=token
                )
            )
        except Exception as exc:
            raise error_from_client(exc, None, f"STS AssumeRoleWithWebIdentity for role {role}") from exc
        c = out["Credentials"]
        creds = Credentials(
            c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], c["Expiration"].timestamp()
        )
        self._sts_cache = {k: v for k, v in self._sts_cache.items() if v.expires > time.time()}
        self._sts_cache[key] = creds
        return creds

    async def pod_identity_credentials(self, spec: MountSpec, params: AwsParams) -> Credentials:
        token = spec.token_for(POD_IDENTITY_AUDIENCE)
        if not token:
            raise ProviderError(
                ErrorCode.UNAUTHENTICATED,
                f"usePodIdentity needs a service-account token for "
                f"audience {POD_IDENTITY_AUDIENCE!r} in the CSIDriver's tokenRequests",
            )
        endpoint = (
            os.environ.get("AWS_POD_IDENTITY_ENDPOINT")
            or POD_IDENTITY_ENDPOINTS["ipv6" if params.preferred_address_type == "ipv6" else "ipv4"]
        )
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        metrics.BACKEND_CALLS.labels("aws", "eks-auth.PodIdentityCredentials").inc()
        try:
            async with self._http.get(endpoint, headers={"Authorization": token}) as resp:
                if resp.status != 200:
                    raise ProviderError(
                        ErrorCode.UNAUTHENTICATED, f"Pod Identity agent answered HTTP {resp.status}"
                    )
                body = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise ProviderError(
                ErrorCode.UNAVAILABLE, f"Pod Identity agent unreachable ({type(exc).__name__})"
            ) from exc
        return Credentials(body["AccessKeyId"], body["SecretAccessKey"], body.get("Token"))

    # ---- mount --------------------------------------------------------------------------------------

    async def mount(self, spec: MountSpec) -> MountResult:
        params = parse_params(spec.attributes, spec.default_mode)
        region = await self.region_for(params)
        for obj in params.objects:
            if obj.arn is not None and obj.arn.region and obj.arn.region != region:
                raise invalid(
                    f"ARN region {obj.arn.region!r} does not match the mount region {region!r}", obj.name
                )
        creds = await self.credentials(spec, params, region)
        values: dict[str, Fetched] = {}
        todo: list[AwsObject] = []
        for obj in params.objects:
            hit = self.cache.get(spec, obj, selector_of(obj, region)) if obj.pinned else None
            if hit is not None:
                values[obj.file_name] = hit
            else:
                todo.append(obj)
        # SSM latest versions: one DescribeParameters per 50 names tells whether anything changed.
        latest_ssm = [
            o
            for o in todo
            if o.type == SSM
            and not o.version
            and not o.label
            and self._cached_for(spec, o, region) is not None
        ]
        if latest_ssm:
            versions = await self._shared(params, region, creds, latest_ssm, self._ssm_versions)
            for obj in latest_ssm:
                cached = self._cached_for(spec, obj, region)
                if cached is not None and versions.get(obj.file_name) == cached.version:
                    values[obj.file_name] = cached
                    todo.remove(obj)
        ssm = [o for o in todo if o.type == SSM]
        sm_batch = [o for o in todo if o.type == SECRETS_MANAGER and not o.version and not o.label]
        sm_single = [o for o in todo if o.type == SECRETS_MANAGER and (o.version or o.label)]
        results = await asyncio.gather(
            *[self._shared(params, region, creds, c, self._ssm_get) for c in ssm_batches(ssm)],
            *[
                self._shared(params, region, creds, list(c), self._sm_batch)
                for c in chunks(sm_batch, SM_BATCH)
            ],
            *[self._shared(params, region, creds, [o], self._sm_get) for o in sm_single],
        )
        for found in results:
            values.update(found)
        result = MountResult()
        for obj in params.objects:
            fetched = values[obj.file_name]
            self.cache.put(spec, obj, selector_of(obj, region), fetched)
            result.add(obj.file_name, obj.mode, fetched.value)
            result.versions.append((obj.file_name, fetched.version))
            for entry in obj.jmes:
                result.add(entry.alias, entry.mode, jmes_value(fetched.value, entry.path, obj.file_name))
        return result

    def _cached_for(self, spec: MountSpec, obj: AwsObject, region: str) -> Fetched | None:
        return self.cache.get(spec, obj, selector_of(obj, region))

    async def _shared(
        self,
        params: AwsParams,
        region: str,
        creds: Credentials,
        objs: list[AwsObject],
        fn: Callable[[str, Credentials, list[AwsObject], bool], Any],
    ) -> dict[str, Any]:
        """One backend step, shared by concurrent mounts that ask the same identity for the same objects
        (pods of one Deployment starting together cost one fetch, not one per pod)."""
        key = (
            creds.identity,
            region,
            params.failover_region,
            fn.__name__,
            tuple((o.file_name, selector_of(o, region)) for o in objs),
        )
        task = self._inflight.get(key)
        if task is None:
            # A task of its own: a caller that gives up (deadline) does not cancel the others' fetch.
            task = asyncio.ensure_future(self._with_failover(params, region, creds, objs, fn))
            self._inflight[key] = task
            task.add_done_callback(lambda t, k=key: self._done(k, t))  # type: ignore[misc]
        else:
            metrics.SHARED_FETCHES.labels("aws").inc()
        return dict(await asyncio.shield(task))

    def _done(self, key: tuple[Any, ...], task: asyncio.Future[dict[str, Any]]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody waited for is not reported as lost

    async def _with_failover(
        self,
        params: AwsParams,
        region: str,
        creds: Credentials,
        objs: list[AwsObject],
        fn: Callable[[str, Credentials, list[AwsObject], bool], Any],
    ) -> dict[str, Any]:
        """Run one backend step in the region; on a 5xx or an unreachable endpoint, in failoverRegion."""
        try:
            result: dict[str, Any] = await fn(region, creds, objs, False)
            return result
        except ProviderError as err:
            if err.code != ErrorCode.UNAVAILABLE or not params.failover_region:
                raise
            log.warning(
                "region %s unavailable (%s): failing over to %s", region, err.cause, params.failover_region
            )
        result = await fn(params.failover_region, creds, objs, True)
        return result

    @staticmethod
    def _name(obj: AwsObject, failover: bool) -> str:
        return obj.failover_name if failover and obj.failover_name else obj.api_name

    async def _ssm_versions(
        self, region: str, creds: Credentials, objs: list[AwsObject], failover: bool
    ) -> dict[str, str]:
        client = await self.clients.call(lambda: self.clients.client("ssm", region, creds))
        by_name = {self._name(o, failover): o for o in objs}
        out: dict[str, str] = {}
        for part in chunks(list(by_name), DESCRIBE_BATCH):
            request: dict[str, Any] = {
                "ParameterFilters": [{"Key": "Name", "Option": "Equals", "Values": list(part)}],
                "MaxResults": DESCRIBE_BATCH,
            }
            while True:  # an endpoint may answer in pages smaller than MaxResults
                try:
                    resp = await self.clients.call(lambda r=request: client.describe_parameters(**r))  # type: ignore[misc]
                except ClientError as exc:
                    # No ssm:DescribeParameters permission: not an error, the values are simply read again.
                    if is_denied(exc):
                        return {}
                    raise error_from_client(exc, None, "SSM DescribeParameters") from exc
                except Exception as exc:
                    raise error_from_client(exc, None, "SSM DescribeParameters") from exc
                for p in resp.get("Parameters", []):
                    obj = by_name.get(p["Name"]) or by_name.get(p["Name"].lstrip("/"))
                    if obj is not None:
                        out[obj.file_name] = str(p["Version"])
                if not resp.get("NextToken"):
                    break
                request = {**request, "NextToken": resp["NextToken"]}
        return out

    async def _ssm_get(
        self, region: str, creds: Credentials, objs: list[AwsObject], failover: bool
    ) -> dict[str, Fetched]:
        client = await self.clients.call(lambda: self.clients.client("ssm", region, creds))
        requested: dict[str, AwsObject] = {}
        for obj in objs:
            name = self._name(obj, failover)
            selector = f":{obj.version}" if obj.version else f":{obj.label}" if obj.label else ""
            requested[name + selector] = obj
        try:
            resp = await self.clients.call(
                lambda: client.get_parameters(Names=list(requested), WithDecryption=True)
            )
        except Exception as exc:
            names = ", ".join(o.file_name for o in objs)
            raise error_from_client(exc, names, "SSM GetParameters") from exc
        invalid_names = resp.get("InvalidParameters", [])
        if invalid_names:
            bad = requested.get(invalid_names[0])
            raise ProviderError(
                ErrorCode.NOT_FOUND,
                "SSM parameter (or its version/label) not found",
                bad.name if bad else invalid_names[0],
            )
        out: dict[str, Fetched] = {}
        for p in resp.get("Parameters", []):
            key = p["Name"] + p.get("Selector", "")
            found = requested.get(key)
            if found is None:  # older endpoints omit Selector: match by name when unambiguous
                matches = [o for k, o in requested.items() if k.split(":")[0] == p["Name"]]
                found = matches[0] if len(matches) == 1 else None
            if found is not None:
                out[found.file_name] = Fetched(str(p["Version"]), p["Value"].encode())
        missing = [o for o in objs if o.file_name not in out]
        if missing:
            raise ProviderError(ErrorCode.NOT_FOUND, "SSM GetParameters did not return it", missing[0].name)
        return out

    async def _sm_batch(
        self, region: str, creds: Credentials, objs: list[AwsObject], failover: bool
    ) -> dict[str, Fetched]:
        client = await self.clients.call(lambda: self.clients.client("secretsmanager", region, creds))
        ids = {self._name(o, failover): o for o in objs}
        if len(objs) == 1:  # one secret: the plain call is as cheap and needs no batch permission
            return await self._sm_get(region, creds, objs, failover)
        try:
            resp = await self.clients.call(lambda: client.batch_get_secret_value(SecretIdList=list(ids)))
        except ClientError as exc:
            if is_denied(exc):
                # A policy written for upstream grants GetSecretValue only: fall back, one call each.
                log.info("BatchGetSecretValue denied: reading %d secrets one by one", len(objs))
                parts = await asyncio.gather(*[self._sm_get(region, creds, [o], failover) for o in objs])
                return {k: v for part in parts for k, v in part.items()}
            raise error_from_client(
                exc, ", ".join(o.file_name for o in objs), "Secrets Manager BatchGetSecretValue"
            ) from exc
        except Exception as exc:
            raise error_from_client(
                exc, ", ".join(o.file_name for o in objs), "Secrets Manager BatchGetSecretValue"
            ) from exc
        errors = resp.get("Errors", [])
        if errors:
            e = errors[0]
            obj = ids.get(e.get("SecretId", ""))
            code = str(e.get("ErrorCode", ""))
            ecode = (
                ErrorCode.NOT_FOUND
                if code in NOT_FOUND_CODES
                else ErrorCode.ACCESS_DENIED
                if code in DENIED_CODES
                else ErrorCode.UNAVAILABLE
                if code.startswith("Internal")
                else ErrorCode.INVALID_PARAMETER
            )
            raise ProviderError(
                ecode, f"Secrets Manager BatchGetSecretValue: {code}", obj.name if obj else e.get("SecretId")
            )
        out: dict[str, Fetched] = {}
        for sv in resp.get("SecretValues", []):
            obj = ids.get(sv.get("Name", "")) or ids.get(sv.get("ARN", ""))
            if obj is None:
                obj = next((o for i, o in ids.items() if sv.get("ARN", "").startswith(i)), None)
            if obj is not None:
                out[obj.file_name] = Fetched(sv["VersionId"], secret_bytes(sv))
        missing = [o for o in objs if o.file_name not in out]
        if missing:  # an ID form the batch answer did not echo back: read those one by one
            parts = await asyncio.gather(*[self._sm_get(region, creds, [o], failover) for o in missing])
            for part in parts:
                out.update(part)
        return out

    async def _sm_get(
        self, region: str, creds: Credentials, objs: list[AwsObject], failover: bool
    ) -> dict[str, Fetched]:
        (obj,) = objs
        client = await self.clients.call(lambda: self.clients.client("secretsmanager", region, creds))
        kwargs: dict[str, str] = {"SecretId": self._name(obj, failover)}
        if obj.version:
            kwargs["VersionId"] = obj.version
        if obj.label:
            kwargs["VersionStage"] = obj.label
        try:
            sv = await self.clients.call(lambda: client.get_secret_value(**kwargs))
        except Exception as exc:
            raise error_from_client(exc, obj.name, "Secrets Manager GetSecretValue") from exc
        return {obj.file_name: Fetched(sv["VersionId"], secret_bytes(sv))}


def ssm_batches(objs: Sequence[AwsObject]) -> list[list[AwsObject]]:
    """GetParameters batches of at most 10 with each parameter name at most once per batch, so that answers
    match requests by name even where an endpoint omits the `Selector` field (two versions of one name
    go to different calls)."""
    batches: list[list[AwsObject]] = []
    for obj in objs:
        for batch in batches:
            if len(batch) < SSM_BATCH and all(o.api_name != obj.api_name for o in batch):
                batch.append(obj)
                break
        else:
            batches.append([obj])
    return batches


def secret_bytes(sv: dict[str, Any]) -> bytes:
    if sv.get("SecretString") is not None:
        return str(sv["SecretString"]).encode()
    binary = sv.get("SecretBinary", b"")
    return binary if isinstance(binary, bytes) else base64.b64decode(binary)


def jmes_value(raw: bytes, path: str, obj: str) -> bytes:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"jmesPath {path!r} needs a JSON value, and the value is not JSON", obj) from exc
    try:
        found = jmespath.search(path, doc)
    except jmespath.exceptions.JMESPathError as exc:
        raise invalid(f"jmesPath {path!r} is not a valid expression", obj) from exc
    if found is None:
        raise invalid(f"jmesPath {path!r} matched nothing in the value", obj)
    if isinstance(found, str):
        return found.encode()
    return json.dumps(found).encode()


def static_credentials(secrets: dict[str, str]) -> Credentials | None:
    """Keys from the nodePublishSecretRef Secret: access_key_id / secret_access_key / session_token
    (also accepted: awsAccessKeyId, AWS_ACCESS_KEY_ID... any case, any separators)."""
    norm = {k.lower().replace("_", "").replace("-", "").removeprefix("aws"): v for k, v in secrets.items()}
    key_id, secret = norm.get("accesskeyid"), norm.get("secretaccesskey")
    if not key_id and not secret:
        return None
    if not key_id or not secret:
        raise ProviderError(
            ErrorCode.UNAUTHENTICATED, "nodePublishSecretRef needs both access_key_id and secret_access_key"
        )
    return Credentials(key_id, secret, norm.get("sessiontoken") or None)
