"""The one door to AWS: session and client factory, retry configuration, call accounting,
"not found" translation and the narrow retries of AWS-BEHAVIOUR.md.

Throttling and 5xx are botocore's job (standard retry mode, configured here once). Everything
else is retried only where a handler names the error code and message fragment it expects.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError
from botocore.model import ServiceModel
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from ecs_cicd import progress
from ecs_cicd.errors import AwsError, ConfigError

T = TypeVar("T")

READ_PREFIXES = ("Describe", "Get", "List", "BatchGet", "Head", "FilterLogEvents")

# Error codes that mean "it is not there". One table, not rediscovered in every handler.
NOT_FOUND_CODES = frozenset(
    {
        "NoSuchEntity",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "LifecyclePolicyNotFoundException",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidAssociationID.NotFound",
        "InvalidPermission.NotFound",
        "NoSuchBucket",
        "NoSuchBucketPolicy",
        "NoSuchLifecycleConfiguration",
        "NotFound",
        "404",
        "PipelineNotFoundException",
        "WebhookNotFoundException",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "ApplicationDoesNotExistException",
        "DeploymentGroupDoesNotExistException",
        "Gateway.NotAttached",
    }
)

# Error codes that mean "a resource of that name exists already" (on create). One table: the
# lifecycle then looks again and goes on only with one that carries our stack tag.
ALREADY_EXISTS_CODES = frozenset(
    {
        "EntityAlreadyExists",
        "ResourceAlreadyExistsException",
        "RepositoryAlreadyExistsException",
        "PipelineNameInUseException",
        "BucketAlreadyOwnedByYou",
        "DuplicateLoadBalancerName",
        "DuplicateTargetGroupName",
        "ApplicationAlreadyExistsException",
        "DeploymentGroupAlreadyExistsException",
        "InvalidGroup.Duplicate",
    }
)

HINTS: dict[str, str] = {
    "AccessDenied": "the credentials in use lack this permission; check AWS_PROFILE / the IAM policy",
    "AccessDeniedException": "the credentials in use lack this permission; check AWS_PROFILE / the IAM policy",
    "UnauthorizedOperation": "the credentials in use lack this permission; check AWS_PROFILE / the IAM policy",
    "ExpiredToken": "the session token expired; log in again (aws sso login / refresh credentials)",
    "ExpiredTokenException": "the session token expired; log in again (aws sso login / refresh credentials)",
    "InvalidClientTokenId": "the access key is not valid in this account/region; check AWS_PROFILE",
    "DuplicateTargetGroupName": "a target group of that name exists outside this stack; delete it or change project/environment",
    "DuplicateLoadBalancerName": "a load balancer of that name exists outside this stack; delete it or change project/environment",
    "BucketAlreadyExists": "the artifact bucket name is taken in another account; change project or environment",
    "LimitExceeded": "an account quota was reached; raise it in Service Quotas or remove unused resources",
    "LimitExceededException": "an account quota was reached; raise it in Service Quotas or remove unused resources",
    "VpcLimitExceeded": "the region's VPC quota (default 5) is reached; use network.vpc_id with an existing VPC",
    "AddressLimitExceeded": "the region's Elastic IP quota is reached",
}


def error_code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", "Unknown"))


def error_message(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Message", "")).strip()


def is_not_found(e: BaseException) -> bool:
    return isinstance(e, ClientError) and (
        error_code(e) in NOT_FOUND_CODES
        or e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
    )


def is_already_exists(e: BaseException) -> bool:
    return isinstance(e, ClientError) and error_code(e) in ALREADY_EXISTS_CODES


def aws_error(action: str, resource: str, e: ClientError, hint: str | None = None) -> AwsError:
    code = error_code(e)
    return AwsError(action, resource, code, error_message(e), hint=hint or HINTS.get(code))


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES) or operation == "GetCallerIdentity"


@dataclass
class CallStats:
    """API calls made, by operation, split into reads and mutating calls."""

    reads: Counter[str] = field(default_factory=Counter)
    mutating: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    retries: Counter[str] = field(default_factory=Counter)

    def record(self, service: str, operation: str) -> None:
        with self.lock:
            (self.reads if is_read(operation) else self.mutating)[f"{service}:{operation}"] += 1

    def record_retries(self, service: str, operation: str, attempts: int) -> None:
        """botocore's own retries of one call (throttling, 5xx), from its response metadata."""
        if attempts:
            with self.lock:
                self.retries[f"{service}:{operation}"] += attempts

    @property
    def total(self) -> int:
        return sum(self.reads.values()) + sum(self.mutating.values())

    @property
    def mutating_total(self) -> int:
        return sum(self.mutating.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "reads": sum(self.reads.values()),
            "mutating": self.mutating_total,
            "mutating_calls": dict(sorted(self.mutating.items())),
            "read_calls": dict(sorted(self.reads.items())),
            "retries": sum(self.retries.values()),
            "retried_calls": dict(sorted(self.retries.items())),
        }


# Service models are large JSON files (EC2's is megabytes); botocore caches them per loader, and
# every new Session makes a new loader. One shared, read-only loader parses each model once per
# process however many sessions the library's callers (or the tests) create.
_SHARED_LOADER = botocore.loaders.create_loader()


@functools.cache
def _model_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.register_component("data_loader", _SHARED_LOADER)
    return session


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of `service`, parsed once per process (the offline checks of a config
    read a dozen models: one session and one loader for all of them)."""
    return _model_session().get_service_model(service)


def resolve_region(
    explicit: str | None, cfg: Any = None, session: boto3.Session | None = None
) -> str | None:
    """The one rule for the region, for every verb: --region, then the config's `region`, then
    AWS_REGION (which botocore itself does not read), then the session's (AWS_DEFAULT_REGION or
    the profile's)."""
    return (
        explicit
        or (getattr(cfg, "region", None) if cfg is not None else None)
        or os.environ.get("AWS_REGION")
        or (session.region_name if session else None)
        or boto3.Session().region_name
    )


def new_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    session = boto3.Session(profile_name=profile, region_name=region)
    session._session.register_component("data_loader", _SHARED_LOADER)
    return session


class Aws:
    """Cached, thread-safe boto3 clients for one session, region and endpoint.

    boto3 clients are thread-safe; a Session is not, so every client is built here once under a
    lock and shared by the engine's worker threads.
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session = session or new_session(profile, region)
        self.region = region or self.session.region_name
        if not self.region:
            raise ConfigError(
                "no AWS region",
                field="region",
                hint="set region in the config, --region or AWS_REGION",
            )
        self.endpoint_url = endpoint_url
        self.sleep = sleep
        self.stats = CallStats()
        self._config = BotoConfig(
            region_name=self.region,
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10,
            read_timeout=70,
            max_pool_connections=32,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None

    def client(self, service: str) -> Any:
        with self._lock:
            c = self._clients.get(service)
            if c is None:
                kwargs: dict[str, Any] = {"config": self._config}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                c = self.session.client(service, **kwargs)  # type: ignore[call-overload]
                c.meta.events.register("before-call.*.*", self._count)
                c.meta.events.register("after-call.*.*", self._count_retries)
                self._clients[service] = c
            return c

    def _count(self, model: Any, **_: Any) -> None:
        self.stats.record(model.service_model.service_name, model.name)
        progress.count_call(f"{model.service_model.service_name}:{model.name}")

    def _count_retries(self, model: Any, parsed: Any = None, **_: Any) -> None:
        meta = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        self.stats.record_retries(
            model.service_model.service_name, model.name, int(meta.get("RetryAttempts") or 0)
        )

    def account_id(self) -> str:
        if self._account_id is None:
            try:
                self._account_id = str(self.client("sts").get_caller_identity()["Account"])
            except NoCredentialsError:
                raise AwsError(
                    "Reading",
                    "the caller identity",
                    "NoCredentials",
                    "no AWS credentials found",
                    hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use --emulator",
                ) from None
            except NoRegionError:
                raise ConfigError("no AWS region", field="region") from None
            except ClientError as e:
                raise aws_error(
                    "Reading", "the caller identity (sts:GetCallerIdentity)", e
                ) from None
        return self._account_id

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"


def retry_on(
    fn: Callable[[], T],
    *,
    codes: tuple[str, ...],
    fragment: str | tuple[str, ...] | None,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    initial: float = 1.0,
    cap: float = 10.0,
) -> T:
    """Call fn, retrying only ClientErrors whose code is in `codes` and whose message contains
    `fragment` (any of them; None: any message), until `deadline` seconds have passed.

    A non-matching error, even of the same code, is raised at once.
    """
    fragments = (fragment,) if isinstance(fragment, str) else fragment

    def matches(e: BaseException) -> bool:
        if not isinstance(e, ClientError) or error_code(e) not in codes:
            return False
        return fragments is None or any(f.lower() in error_message(e).lower() for f in fragments)

    # Progress: the time AWS keeps refusing is time spent waiting for it (timeline, summary).
    waiting = progress.Waiting("/".join(codes), f"AWS to stop answering {' or '.join(codes)}")
    retryer = Retrying(
        retry=retry_if_exception(matches),
        stop=stop_after_delay(deadline),
        wait=wait_exponential_jitter(initial=initial, max=cap, jitter=initial / 2),
        sleep=sleep,
        reraise=True,
        before_sleep=lambda _state: waiting.begin(),
    )
    try:
        result = retryer(fn)
    except BaseException as e:
        waiting.end(False, str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    waiting.end()
    return result


def tags_list(tags: dict[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tags_dict(
    tags: list[dict[str, str]] | None, key: str = "Key", value: str = "Value"
) -> dict[str, str]:
    return {t[key]: t[value] for t in tags or []}
