"""CloudWatch log groups: the tasks' (`/ecs/<stack>`) and CodeBuild's, with a retention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecs_cicd.aws import retry_on
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, tags_of
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
    named_ids = True

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        """DescribeLogGroups matches a prefix; only the exact name counts."""
        logs = ctx.client("logs")
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == name:
                    return self._live(ctx, group)
        return None

    def lookup_many(self, ctx: Ctx, recs: list[Record]) -> dict[str, Live | None] | None:
        """The recorded log groups in one DescribeLogGroups(logGroupIdentifiers=[names...])
        (up to 50); only exact names count. Tags are per log group."""
        names = sorted({r.physical_id for r in recs})
        if len(names) < 2 or len(names) > 50:
            return None
        logs = ctx.client("logs")
        out: dict[str, Live | None] = dict.fromkeys(names)
        pages = logs.get_paginator("describe_log_groups").paginate(logGroupIdentifiers=names)
        for page in pages:
            for group in page.get("logGroups", []):
                name = group.get("logGroupName")
                if name in out and out[name] is None:
                    out[name] = self._live(ctx, group)
        return out

    def _live(self, ctx: Ctx, group: dict[str, Any]) -> Live:
        name = str(group["logGroupName"])
        arn = str(group.get("arn", "")).removesuffix(":*")

        def read() -> dict[str, str]:
            return dict(ctx.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {}))

        return Live(name, arn, tags_of(ctx, arn, read), group, {"name": name})

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
