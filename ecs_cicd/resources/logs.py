"""CloudWatch log groups: the tasks' (`/ecs/<stack>`) and CodeBuild's, with a retention."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.state import Record

# "A conflicting operation is currently in progress against this resource" (AWS-BEHAVIOUR.md).
CONFLICT_DEADLINE = 120
CONFLICT = ("OperationAbortedException",)


def log_group_name(ctx: Ctx, purpose: str) -> str:
    return (
        names.codebuild_log_group(ctx.cfg) if purpose == "codebuild" else names.log_group(ctx.cfg)
    )


def find_log_group(ctx: Ctx, name: str) -> dict[str, Any] | None:
    """DescribeLogGroups matches a prefix; only the exact name counts."""
    pages = ctx.client("logs").get_paginator("describe_log_groups")
    try:
        for page in pages.paginate(logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == name:
                    found: dict[str, Any] = group
                    return found
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"log group {name}", e) from None
    return None


def _arn(group: dict[str, Any]) -> str:
    arn = group.get("logGroupArn") or str(group.get("arn", ""))
    return str(arn).removesuffix(":*")


class LogGroupHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        logs = ctx.client("logs")
        name = log_group_name(ctx, str(spec.param("purpose")))
        days = ctx.cfg.logs.retention_days
        rec = ctx.state.get(spec.logical_id)
        group = find_log_group(ctx, name)
        action: Action
        if group is None:
            if ctx.dry_run:
                return Outcome(spec.logical_id, spec.kind, "create", [f"retention {days} days"], "")
            try:
                logs.create_log_group(logGroupName=name, tags=ctx.tags(spec.logical_id))
                action = "create"
            except ClientError as e:
                # Created between our look-up and now (a concurrent or crashed run): adopt it.
                if error_code(e) != "ResourceAlreadyExistsException":
                    raise aws_error("Creating", f"log group {name}", e) from None
                action = "adopt"
            group = find_log_group(ctx, name) or {"logGroupName": name}
        else:
            action = "adopt" if rec is None else "unchanged"
        arn = _arn(group) or ctx.arn("logs", f"log-group:{name}")
        ctx.record(Record(spec.logical_id, spec.kind, name, arn=arn, outputs={"name": name}))

        changes: list[str] = []
        have = group.get("retentionInDays")
        if have != days:
            changes.append(f"retention {have or 'never expire'} -> {days} days")
            if not ctx.dry_run:
                try:
                    retry_on(
                        lambda: logs.put_retention_policy(logGroupName=name, retentionInDays=days),
                        codes=CONFLICT,
                        fragment=None,
                        deadline=CONFLICT_DEADLINE,
                        sleep=ctx.sleep,
                    )
                except ClientError as e:
                    raise aws_error("Setting retention of", f"log group {name}", e) from None
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        logs = ctx.client("logs")
        name = record.physical_id
        try:
            retry_on(
                lambda: logs.delete_log_group(logGroupName=name),
                codes=CONFLICT,
                fragment=None,
                deadline=CONFLICT_DEADLINE,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"log group {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)
