"""``Pacing``: how slowly the emulator answers, so timing can be measured as on AWS.

moto answers at once and provisions nothing. With pacing on, the emulator behaves like AWS's
slow parts (AWS-BEHAVIOUR.md), all derived from the clock on each read, with nothing running in
the background:

* ``latency_ms``: every AWS request (not the test control plane) is answered after this long.
* ``alb_seconds``: a new load balancer reports State ``provisioning`` until this long after its
  creation, then ``active``.
* ``service_seconds``: a new ECS deployment (CreateService; UpdateService with a new task
  definition, network or load balancer configuration, or forceNewDeployment) is IN_PROGRESS with
  no running tasks of its own until this long after the later of its start and the moment the
  load balancer(s) it targets turn active; then COMPLETED with runningCount == desiredCount.
* ``pipeline_seconds``: a pipeline execution runs its stages over this long (when 0, the
  ``ECS_CICD_EMULATOR_PIPELINE_SECONDS`` environment variable still applies).
* ``eni_release_seconds``: after DeleteService / DeleteLoadBalancer, their subnets and security
  groups refuse deletion with ``DependencyViolation`` this long (AWS releases the ENIs minutes
  later).

All zero (the default) is the emulator as it always was: everything ready at once. The pacing is
process-wide, as moto's backends are: ``EmulatorServer(pacing=...)`` sets it while it runs;
``configure()`` sets it directly (the in-process tests).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields

PACING_ENV = "ECS_CICD_EMULATOR_PACING"


@dataclass(frozen=True)
class Pacing:
    latency_ms: float = 0.0
    alb_seconds: float = 0.0
    service_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    eni_release_seconds: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or value < 0:
                raise ValueError(f"pacing {f.name} must be a number >= 0, not {value!r}")

    @property
    def off(self) -> bool:
        return not any(asdict(self).values())

    @classmethod
    def parse(cls, text: str) -> Pacing:
        """``"latency_ms=50,alb_seconds=20"`` (any subset; ``realistic`` names REALISTIC)."""
        text = text.strip()
        if not text or text == "off":
            return cls()
        if text == "realistic":
            return REALISTIC
        known = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for item in text.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or key not in known:
                raise ValueError(
                    f"pacing: {item.strip()!r} is not NAME=SECONDS with NAME one of "
                    + ", ".join(sorted(known))
                )
            try:
                values[key] = float(value)
            except ValueError:
                raise ValueError(f"pacing: {key} must be a number, not {value.strip()!r}") from None
        return cls(**values)

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in asdict(self).items())


# What `scripts/bench.py --pacing realistic` uses: AWS's shape, scaled down (an ALB takes 1-3
# minutes on AWS, a first Fargate deployment about one, ENIs are released minutes later).
REALISTIC = Pacing(
    latency_ms=20, alb_seconds=8, service_seconds=5, pipeline_seconds=10, eni_release_seconds=5
)

_lock = threading.Lock()
_current = Pacing()


def current() -> Pacing:
    return _current


def configure(pacing: Pacing) -> Pacing:
    """Set the process-wide pacing; returns the one it replaces."""
    global _current
    with _lock:
        previous, _current = _current, pacing
    return previous
