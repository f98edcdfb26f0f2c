"""The `status` table, from a recorded status Result."""

from __future__ import annotations

from datetime import UTC, datetime

from ecs_cicd.lifecycle import Outcome
from ecs_cicd.ops import Result
from ecs_cicd.statusview import age, format_status, short_id

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ALB = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188"


def result() -> Result:
    return Result(
        "status",
        outcomes=[
            Outcome("alb", "load_balancer", "unchanged", [], ALB),
            Outcome("service", "service", "update", ["desiredCount: 1 -> 2"], "shop"),
            Outcome("taskdef", "task_definition", "gone", [], "shop"),
        ],
        outputs={
            "stack": "shop-dev",
            "region": "ap-northeast-1",
            "url": "http://shop.example",
            "pipeline": "shop-dev",
        },
        details={
            "service": {
                "status": "ACTIVE",
                "running": 1,
                "desired": 2,
                "task_definition": "arn:aws:ecs:r:1:task-definition/shop:4",
            },
            "deployments": [
                {
                    "id": "ecs-svc/2",
                    "status": "PRIMARY",
                    "revision": "shop:4",
                    "rolloutState": "IN_PROGRESS",
                    "running": 0,
                    "desired": 2,
                    "created": "2026-01-01T11:58:00+00:00",
                },
                {
                    "id": "ecs-svc/1",
                    "status": "ACTIVE",
                    "revision": "shop:3",
                    "rolloutState": "COMPLETED",
                    "running": 1,
                    "desired": 1,
                    "created": "2025-12-30T12:00:00+00:00",
                },
            ],
            "service_events": [
                {"at": "2026-01-01T11:59:30+00:00", "message": "(service shop) has started 2 tasks"}
            ],
            "codedeploy": {
                "id": "d-ABC",
                "status": "InProgress",
                "created": "2026-01-01T11:57:00+00:00",
                "task_definition": "arn:aws:ecs:r:1:task-definition/shop:4",
                "traffic": "BLUE 100% traffic, running 1/1",
            },
            "pipeline_executions": [
                {
                    "id": "0123456789",
                    "status": "Failed",
                    "trigger": "StartPipelineExecution",
                    "started": "2026-01-01T10:00:00+00:00",
                    "summary": "Build failed",
                },
            ],
        },
    )


def test_status_table_shows_resources_deployments_events_codedeploy_and_executions() -> None:
    text = format_status(result(), now=NOW)
    lines = text.splitlines()
    assert lines[:2] == ["stack shop-dev (ap-northeast-1)", "URL: http://shop.example"]
    assert lines[3].split() == ["RESOURCE", "STATE", "ID", "DETAIL"]
    assert lines[4].split() == ["alb", "ok", "app/shop-alb/50dc6c495c0c9188"]
    assert lines[5].split()[:3] == ["service", "drifted", "shop"] and lines[5].endswith(
        "desiredCount: 1 -> 2"
    )
    assert lines[6].split() == ["taskdef", "gone", "shop"]
    assert "service: ACTIVE, running 1/2, task definition shop:4" in lines
    assert "  PRIMARY     shop:4    IN_PROGRESS  0/2      2m   ecs-svc/2" in lines
    assert "  ACTIVE      shop:3    COMPLETED    1/1      2d   ecs-svc/1" in lines
    assert "     30s ago  (service shop) has started 2 tasks" in lines
    assert "codedeploy: deployment d-ABC InProgress (3m ago) shop:4" in lines
    assert "  traffic: BLUE 100% traffic, running 1/1" in lines
    assert "pipeline shop-dev: last executions" in lines
    assert lines[-3].split() == [
        "Failed",
        "StartPipelineExecution",
        "2h",
        "ago",
        "01234567",
        "Build",
        "failed",
    ]


def test_helpers() -> None:
    assert short_id("vpc-123") == "vpc-123"
    assert short_id("arn:aws:iam::1:role/x") == "role/x"
    assert age("2026-01-01T11:59:58+00:00", NOW) == "2s"
    assert age(None, NOW) == ""
