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


def test_a_long_stack_looks_for_the_other_strategy_under_its_short_names() -> None:
    # 32 characters with "-blue" fit; "-green" does not and takes its short form (names.fit).
    long = config_with(project="p" * 20, environment="envxxx")
    assert len(long.stack) + len("-blue") <= 32 < len(long.stack) + len("-green")
    found = {r.logical_id: r for r in switch.other_strategy(long, TARGET, stack_of(long))}
    assert {"tg.blue", "tg.green"} <= set(found)
    assert all(len(found[t].name) <= 32 for t in ("tg.blue", "tg.green"))  # type: ignore[attr-defined]


def test_the_service_has_two_names() -> None:
    svc = stack_of(config_with()).get("service")
    assert (svc.name, svc.alt_name) == ("test-codepipeline-dev", "test-codepipeline-dev-alt")  # type: ignore[attr-defined]
