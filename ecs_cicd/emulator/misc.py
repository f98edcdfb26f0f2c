"""Smaller fixes: IAM managed policies, S3 bucket-policy conditions, the tagging API's coverage.

* IAM: AWS managed policies exist (moto loads them only when asked to). moto parses ~1500
  policies for every IAM backend of every partition, on every reset (seconds per test); here
  they are built once per account and copied, and only for the ``aws`` partition.
* S3: moto applies every bucket-policy statement as if its ``Condition`` held, so the usual
  "deny unless aws:SecureTransport" statement locked every caller out (including the delete of
  a versioned bucket's objects). Statements with a Condition are skipped when moto evaluates a
  policy: it cannot evaluate them, and the common ones hold for a TLS client that sets the
  required headers.
* Resource Groups Tagging API GetResources also returns ECR repositories, CodeBuild projects,
  CodePipeline pipelines and webhooks, and CodeDeploy applications and deployment groups (AWS
  covers them; moto does not), drops ECS services and clusters that are INACTIVE (deleted), and
  applies ResourceTypeFilters as AWS does ("ecs" = every ECS type, "ecs:service" = services).
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from moto.codebuild.models import codebuild_backends
from moto.codedeploy.models import codedeploy_backends
from moto.codepipeline.models import codepipeline_backends
from moto.core.config import default_user_config
from moto.ecr.models import ecr_backends
from moto.ecs.models import ecs_backends
from moto.iam.models import AWSManagedPolicy, IAMBackend
from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response

from ecs_cicd.emulator._util import replace
from ecs_cicd.emulator.webhooks import webhook_records

MANAGED_POLICIES_ENV = "MOTO_IAM_LOAD_MANAGED_POLICIES"


def load_managed_policies() -> None:
    """Make new IAM backends load AWS's managed policies (read when a backend is created)."""
    os.environ.setdefault(MANAGED_POLICIES_ENV, "true")
    iam_config: dict[str, Any] = default_user_config.setdefault("iam", {})  # type: ignore[assignment]
    iam_config["load_aws_managed_policies"] = True


_policy_templates: dict[str, list[AWSManagedPolicy]] = {}
_policy_lock = threading.Lock()


def _aws_policies(original: Any) -> Any:
    def init_aws_policies(self: IAMBackend) -> list[AWSManagedPolicy]:
        if self.partition != "aws":
            return []  # the tool never addresses other partitions
        with _policy_lock:
            template = _policy_templates.get(self.account_id)
            if template is None:
                template = original(self)
                if not template:
                    return []  # loading is switched off
                _policy_templates[self.account_id] = template
        # The copies share only immutable data: documents and dates. Attachments and tags are
        # per backend, so a reset starts from zero as with moto's own loading.
        policies = []
        for policy in template:
            clone = copy.copy(policy)
            clone.attachment_count = 0
            clone.tags = {}
            clone.versions = list(policy.versions)
            policies.append(clone)
        return policies

    return init_aws_policies


def _bucket_permission(original: Any) -> Any:
    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        policy = json.loads(self.policy)
        statements = policy.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        kept = [s for s in statements if "Condition" not in s]
        if len(kept) == len(statements):
            return original(self, action, resource)
        saved = self.policy
        try:
            self.policy = json.dumps({**policy, "Statement": kept}).encode()
            return original(self, action, resource)
        finally:
            self.policy = saved

    return get_permission


# --- tagging API --------------------------------------------------------------------------


def _resource_type(arn: str) -> tuple[str, str]:
    """('ecs', 'service') for an ECS service ARN, ('s3', 'bucket') for a bucket, ..."""
    parts = arn.split(":", 5)
    service, resource = parts[2], parts[5] if len(parts) > 5 else ""
    if service == "s3":
        return service, "bucket"
    if service == "codepipeline" and not re.search(r"[:/]", resource):
        return service, "pipeline"
    return service, re.split(r"[:/]", resource)[0]


def _type_matches(arn: str, filters: list[str] | None) -> bool:
    if not filters:
        return True
    service, kind = _resource_type(arn)
    return any(f in (service, f"{service}:{kind}") for f in filters)


def _tags_match(tags: dict[str, str], tag_filters: list[dict[str, Any]] | None) -> bool:
    for tag_filter in tag_filters or []:
        key, values = tag_filter["Key"], tag_filter.get("Values") or []
        if key not in tags or (values and tags[key] not in values):
            return False
    return True


def _kv(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """[{key, value}] (CodeBuild, CodePipeline) -> {key: value}."""
    return {t["key"]: t["value"] for t in tags or []}


def _extra_resources(account: str, region: str) -> Iterator[tuple[str, dict[str, str]]]:
    ecr = ecr_backends[account][region]
    for repo in ecr.repositories.values():
        yield repo.arn, ecr.tagger.get_tag_dict_for_resource(repo.arn)
    for project in codebuild_backends[account][region].codebuild_projects.values():
        yield project.arn, _kv(project.project_metadata.get("tags"))
    pipelines = codepipeline_backends[account][region]
    for pipeline in pipelines.pipelines.values():
        yield pipeline.metadata["pipelineArn"], dict(pipeline.tags)
    for hook in webhook_records(pipelines).values():
        yield hook["arn"], _kv(hook.get("tags"))
    deploy = codedeploy_backends[account][region]
    prefix = f"arn:aws:codedeploy:{region}:{account}"
    for app_name in deploy.applications:
        arn = f"{prefix}:application:{app_name}"
        yield arn, deploy.tagger.get_tag_dict_for_resource(arn)
        for group_name in deploy.deployment_groups.get(app_name, {}):
            arn = f"{prefix}:deploymentgroup:{app_name}/{group_name}"
            yield arn, deploy.tagger.get_tag_dict_for_resource(arn)


def _deleted_arns(account: str, region: str) -> set[str]:
    ecs = ecs_backends[account][region]
    gone = {s.arn for s in ecs.services.values() if s.status == "INACTIVE"}
    return gone | {c.arn for c in ecs.clusters.values() if c.status == "INACTIVE"}


# moto up to 5.2.1 yields {"ResourceARN", "Tags"} dicts here; later 5.2.x yield TaggedResource.
def _item_arn(item: Any) -> str:
    return str(item["ResourceARN"] if isinstance(item, dict) else item.arn)


def _make_item(arn: str, tags: dict[str, str]) -> Any:
    try:
        from moto.core.resource_tagging import TaggedResource
    except ImportError:  # moto 5.2.1
        return {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    service, kind = _resource_type(arn)
    return TaggedResource(arn=arn, tags=tags, resource_type=f"{service}:{kind}")


def _resources_generator(original: Any) -> Any:
    def generator(
        self: ResourceGroupsTaggingAPIBackend,
        tag_filters: list[dict[str, Any]] | None = None,
        resource_type_filters: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        gone = _deleted_arns(self.account_id, self.region_name)
        seen = set()
        # Older moto's own type filtering knows only some spellings; filter by ARN instead.
        for item in original(self, tag_filters=tag_filters, resource_type_filters=None, **kwargs):
            arn = _item_arn(item)
            seen.add(arn)
            if arn not in gone and _type_matches(arn, resource_type_filters):
                yield item
        wanted = kwargs.get("resource_arn_list")
        for arn, tags in _extra_resources(self.account_id, self.region_name):
            if arn in seen or not tags or (wanted and arn not in wanted):
                continue
            if _type_matches(arn, resource_type_filters) and _tags_match(tags, tag_filters):
                yield _make_item(arn, tags)

    return generator


def apply() -> None:
    load_managed_policies()
    replace(IAMBackend, "_init_aws_policies", _aws_policies)
    replace(FakeBucket, "get_permission", _bucket_permission)
    replace(S3Response, "_bucket_response_put", _bucket_put_with_tags)
    replace(ResourceGroupsTaggingAPIBackend, "_get_resources_generator", _resources_generator)


# --- S3: tags in CreateBucket -----------------------------------------------------------------
def _tags_in_create_bucket(body: bytes) -> dict[str, str]:
    """CreateBucketConfiguration.Tags (AWS accepts tags at CreateBucket; moto drops them)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return {}
    tags: dict[str, str] = {}
    for tag in root.iter():
        if tag.tag.rsplit("}", 1)[-1] != "Tag":
            continue
        fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in tag}
        if "Key" in fields:
            tags[fields["Key"]] = fields.get("Value", "")
    return tags


def _bucket_put_with_tags(real: Any) -> Any:
    def put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        result = real(self, request, bucket_name, querystring)
        if not querystring and self.body and self.data.get("Action") == "CreateBucket":
            tags = _tags_in_create_bucket(self.body)
            if tags:
                self.backend.put_bucket_tagging(bucket_name, tags)
        return result

    return put
