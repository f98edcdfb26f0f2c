"""The strategy switch's pure parts: what only the other strategy builds (looked for without a
state file), and the service's two names."""

from __future__ import annotations

from ecs_cicd import switch
from tests.unit.resources.helpers import TARGET, config_with, stack_of

BLUE_GREEN = {"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}}


def test_what_only_the_other_strategy_builds() -> None:
    rolling = config_with()
    bg = config_with(pipeline__deploy=BLUE_GREEN)
    from_rolling = switch.other_strategy(rolling, TARGET, stack_of(rolling))
    from_bg = switch.other_strategy(bg, TARGET, stack_of(bg))
    assert {r.logical_id for r in from_rolling} == {
        "tg.blue",
        "tg.green",
        "codedeploy.app",
        "codedeploy.group",
        "role.codedeploy",
    }  # no test listener: the rolling config sets no test_listener_port
    assert {r.logical_id for r in from_bg} == {"tg.main"}


def test_a_target_group_name_too_long_for_elb_is_not_looked_for() -> None:
    # 32 characters with "-blue" fit; "-green" does not.
    long = config_with(project="p" * 20, environment="envxxx")
    assert len(long.stack) + len("-blue") <= 32 < len(long.stack) + len("-green")
    ids = {r.logical_id for r in switch.other_strategy(long, TARGET, stack_of(long))}
    assert "tg.green" not in ids and "tg.blue" in ids


def test_the_service_has_two_names() -> None:
    svc = stack_of(config_with()).get("service")
    assert (svc.name, svc.alt_name) == ("test-codepipeline-dev", "test-codepipeline-dev-alt")  # type: ignore[attr-defined]
