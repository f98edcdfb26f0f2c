"""CloudWatch log groups: the tasks' (`/ecs/<stack>`) and CodeBuild's, with a retention."""

from __future__ import annotations

from dataclasses import dataclass

from ecs_cicd.aws import retry_on
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.state import Record

# "A conflicting operation is currently in progress against this resource" (AWS-BEHAVIOUR.md).
CONFLICT_DEADLINE = 120
CONFLICT = ("OperationAbortedException",)


@dataclass(frozen=True, eq=False, kw_only=True)
class LogGroup(Resource):
    kind = "log_group"
    name: str
    retention_days: int
    arn: str


class LogGroupKind(Kind[LogGroup]):
    kind = "log_group"
    label = "log group"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        """DescribeLogGroups matches a prefix; only the exact name counts."""
        logs = ctx.client("logs")
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == name:
                    arn = str(group.get("arn", "")).removesuffix(":*")
                    tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
                    return Live(name, arn, dict(tags), group, {"name": name})
        return None

    def create(self, ctx: Ctx, want: LogGroup) -> Live:
        ctx.client("logs").create_log_group(logGroupName=want.name, tags=want.tag_dict)
        return Live(want.name, want.arn, want.tag_dict, None, {"name": want.name})

    def configure(self, ctx: Ctx, want: LogGroup, live: Live) -> Live | None:
        self._retention(ctx, want)
        return None

    def diff(self, ctx: Ctx, want: LogGroup, live: Live) -> list[Diff]:
        have = live.data.get("retentionInDays")
        if have == want.retention_days:
            return []
        return [Diff("retentionInDays", have or "never expire", want.retention_days)]

    def update(self, ctx: Ctx, want: LogGroup, live: Live, diffs: list[Diff]) -> Live | None:
        self._retention(ctx, want)
        return None

    def _retention(self, ctx: Ctx, want: LogGroup) -> None:
        retry_on(
            lambda: ctx.client("logs").put_retention_policy(
                logGroupName=want.name, retentionInDays=want.retention_days
            ),
            codes=CONFLICT,
            fragment=None,
            deadline=CONFLICT_DEADLINE,
            sleep=ctx.sleep,
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("logs").tag_resource(resourceArn=live.arn, tags=tags)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        retry_on(
            lambda: ctx.client("logs").delete_log_group(logGroupName=rec.physical_id),
            codes=CONFLICT,
            fragment=None,
            deadline=CONFLICT_DEADLINE,
            sleep=ctx.sleep,
        )

    def summary(self, want: LogGroup) -> list[str]:
        return [f"retention {want.retention_days} days"]


KINDS = (LogGroupKind(),)
