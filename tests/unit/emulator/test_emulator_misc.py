"""IAM managed policies, S3 bucket policies with conditions, the tagging API, install()."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_cicd.emulator import install
from tests.unit.emulator.emulator_helpers import (
    REGION,
    create_project,
    make_role,
    two_stage_pipeline,
)

EXEC_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
STACK = [{"Key": "ecs-cicd:stack", "Value": "shop-dev"}]


def test_aws_managed_policies_exist_and_attach(aws: Any) -> None:
    iam = aws("iam")
    assert iam.get_policy(PolicyArn=EXEC_POLICY)["Policy"]["PolicyName"] == (
        "AmazonECSTaskExecutionRolePolicy"
    )
    make_role(iam, "exec", "ecs-tasks.amazonaws.com")
    iam.attach_role_policy(RoleName="exec", PolicyArn=EXEC_POLICY)
    attached = iam.list_attached_role_policies(RoleName="exec")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [EXEC_POLICY]
    assert iam.get_policy(PolicyArn=EXEC_POLICY)["Policy"]["AttachmentCount"] == 1


def test_managed_policy_attachments_do_not_leak_across_resets(aws: Any) -> None:
    # The previous test attached the policy once; a fresh mock starts from zero.
    assert aws("iam").get_policy(PolicyArn=EXEC_POLICY)["Policy"]["AttachmentCount"] == 0


def _bucket(s3: Any, statement: dict[str, Any]) -> None:
    s3.create_bucket(Bucket="art", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="art", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="art", Key="a", Body=b"1")
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    s3.put_bucket_policy(Bucket="art", Policy=json.dumps(policy))


def test_conditional_deny_does_not_lock_out_a_tls_client(aws: Any) -> None:
    s3 = aws("s3")
    _bucket(
        s3,
        {
            "Sid": "DenyInsecureConnections",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "arn:aws:s3:::art/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    s3.put_object(Bucket="art", Key="a", Body=b"2")
    versions = s3.list_object_versions(Bucket="art")["Versions"]
    deleted = s3.delete_objects(
        Bucket="art",
        Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
    )
    assert "Errors" not in deleted
    s3.delete_bucket(Bucket="art")


def test_unconditional_deny_still_applies(aws: Any) -> None:
    s3 = aws("s3")
    _bucket(
        s3,
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::art/*"},
    )
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket="art", Key="b", Body=b"x")
    assert err.value.response["Error"]["Code"] in ("403", "AccessDenied")


def test_tagging_api_finds_every_kind_the_tool_tags(aws: Any) -> None:
    iam = aws("iam")
    aws("ecr").create_repository(repositoryName="shop", tags=STACK)
    create_project(
        aws("codebuild"),
        make_role(iam, "cb", "codebuild.amazonaws.com"),
        tags=[{"key": "ecs-cicd:stack", "value": "shop-dev"}],
    )
    codedeploy = aws("codedeploy")
    codedeploy.create_application(applicationName="shop-dev", computePlatform="ECS", tags=STACK)
    ecs = aws("ecs")
    ecs.create_cluster(
        clusterName="shop-dev", tags=[{"key": "ecs-cicd:stack", "value": "shop-dev"}]
    )
    ecs.create_cluster(clusterName="other", tags=[{"key": "ecs-cicd:stack", "value": "other"}])
    tagging = aws("resourcegroupstaggingapi")

    def found(**filters: Any) -> set[str]:
        pages = tagging.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": "ecs-cicd:stack", "Values": ["shop-dev"]}], **filters
        )
        return {
            r["ResourceARN"].split(":")[2] + ":" + r["ResourceARN"].split(":")[5].split("/")[0]
            for page in pages
            for r in page["ResourceTagMappingList"]
        }

    assert found() == {
        "ecr:repository",
        "codebuild:project",
        "codedeploy:application",
        "ecs:cluster",
    }
    assert found(ResourceTypeFilters=["ecs"]) == {"ecs:cluster"}
    assert found(ResourceTypeFilters=["ecr:repository", "codebuild"]) == {
        "ecr:repository",
        "codebuild:project",
    }
    # A deleted (INACTIVE) cluster is gone from the tagging API.
    ecs.delete_cluster(cluster="shop-dev")
    assert "ecs:cluster" not in found()


def test_install_is_idempotent(aws: Any) -> None:
    install()
    install()
    role = make_role(aws("iam"), "cp", "codepipeline.amazonaws.com")
    cp = aws("codepipeline")
    cp.create_pipeline(pipeline=two_stage_pipeline(role))
    # Wrapped twice, CreatePipeline would have started two executions.
    assert len(cp.list_pipeline_executions(pipelineName="p")["pipelineExecutionSummaries"]) == 1


def test_create_bucket_keeps_the_tags_it_is_given(aws: Any) -> None:
    """AWS takes CreateBucketConfiguration.Tags (tags at creation); moto drops them."""
    s3 = aws("s3")
    s3.create_bucket(
        Bucket="tagged-at-creation",
        CreateBucketConfiguration={
            "LocationConstraint": "ap-northeast-1",
            "Tags": [{"Key": "ecs-cicd:stack", "Value": "shop-dev"}, {"Key": "team", "Value": "a"}],
        },
    )
    tags = {
        t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="tagged-at-creation")["TagSet"]
    }
    assert tags == {"ecs-cicd:stack": "shop-dev", "team": "a"}
    s3.create_bucket(
        Bucket="untagged", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    with pytest.raises(ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket="untagged")
