"""Application Auto Scaling and deployment alarms, as AWS has them and moto lacks.

* RegisterScalableTarget stores its ``Tags`` (moto drops them) on a new target, ignores them on an
  update; ListTagsForResource / TagResource / UntagResource on a scalable target's ARN
  (ResourceNotFoundException for an unknown ARN).
* DescribeScalingPolicies honours ``PolicyNames`` (moto ignores it).
* DeregisterScalableTarget also deletes the target's scaling policies (and their alarms), as
  AWS does.
* Test control (``/_ecs_cicd/alarm-on-deploy``): arm an alarm trip. The next new ECS deployment of
  a service whose ``deploymentConfiguration.alarms`` (enabled, with rollback) names the alarm
  starts IN_PROGRESS; on the next read the alarm is in ALARM (with the given StateReason), the
  deployment is FAILED with a reason naming the alarm, and ECS rolls back: a new PRIMARY
  deployment of the previous task definition (COMPLETED), with AWS-like service events.
* Test control (``/_ecs_cicd/scale``): set a service's desired count as Application Auto Scaling
  would (an UpdateService that no client made): the count settles at once.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.exceptions import JsonRESTError

_TAGS = "_ecs_cicd_tags"


def _targets(backend: ApplicationAutoscalingBackend) -> list[FakeScalableTarget]:
    return [t for by_id in backend.targets.values() for t in by_id.values()]


def _target_by_arn(backend: ApplicationAutoscalingBackend, arn: str) -> FakeScalableTarget:
    for t in _targets(backend):
        if t.arn == arn:
            return t
    raise JsonRESTError("ResourceNotFoundException", f"No scalable target found for {arn}")


def _register(original: Any) -> Any:
    def register_scalable_target(self: ApplicationAutoScalingResponse) -> str:
        backend = self.applicationautoscaling_backend
        namespace = self._get_param("ServiceNamespace")
        r_id = self._get_param("ResourceId")
        dimension = self._get_param("ScalableDimension")
        existed = backend._scalable_target_exists(r_id, dimension)
        body: str = original(self)
        if not existed:
            target = backend.targets[dimension][r_id]
            if target.service_namespace == namespace:
                setattr(target, _TAGS, dict(self._get_param("Tags") or {}))
        return body

    return register_scalable_target


def list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
    target = _target_by_arn(self.applicationautoscaling_backend, self._get_param("ResourceARN"))
    return json.dumps({"Tags": dict(getattr(target, _TAGS, {}))})


def tag_resource(self: ApplicationAutoScalingResponse) -> str:
    target = _target_by_arn(self.applicationautoscaling_backend, self._get_param("ResourceARN"))
    tags = dict(getattr(target, _TAGS, {}))
    tags.update(self._get_param("Tags") or {})
    setattr(target, _TAGS, tags)
    return json.dumps({})


def untag_resource(self: ApplicationAutoScalingResponse) -> str:
    target = _target_by_arn(self.applicationautoscaling_backend, self._get_param("ResourceARN"))
    keys = set(self._get_param("TagKeys") or [])
    setattr(target, _TAGS, {k: v for k, v in getattr(target, _TAGS, {}).items() if k not in keys})
    return json.dumps({})


def _describe_policies(original: Any) -> Any:
    def describe_scaling_policies(self: ApplicationAutoScalingResponse) -> str:
        body: str = original(self)
        wanted = self._get_param("PolicyNames")
        if not wanted:
            return body
        doc = json.loads(body)
        doc["ScalingPolicies"] = [
            p for p in doc.get("ScalingPolicies", []) if p.get("PolicyName") in wanted
        ]
        return json.dumps(doc)

    return describe_scaling_policies


def _deregister(original: Any) -> Any:
    def deregister_scalable_target(
        self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str
    ) -> None:
        original(self, namespace, r_id, dimension)
        for key, policy in list(self.policies.items()):
            p: FakeApplicationAutoscalingPolicy = policy
            if (p.service_namespace, p.resource_id, p.scalable_dimension) == (
                namespace,
                r_id,
                dimension,
            ):
                p.delete_alarms(self.account_id, self.region_name)
                del self.policies[key]

    return deregister_scalable_target


# --- alarm trips (test control) --------------------------------------------------------------
@dataclass
class Trip:
    alarm: str  # an alarm name, or "*" for any of the service's deployment alarms
    reason: str
    times: int


_lock = threading.Lock()
_trips: list[Trip] = []


def arm_alarm(alarm: str, reason: str, times: int = 1) -> None:
    with _lock:
        _trips.append(Trip(alarm, reason, times))


def clear_alarms() -> None:
    with _lock:
        _trips.clear()


def take_trip(alarm_names: list[str]) -> tuple[str, str] | None:
    """The armed trip for one of `alarm_names` (consumed): (alarm name, state reason)."""
    with _lock:
        for trip in _trips:
            name = trip.alarm if trip.alarm in alarm_names else None
            if trip.alarm == "*" and alarm_names:
                name = sorted(alarm_names)[0]
            if name is None:
                continue
            trip.times -= 1
            if trip.times <= 0:
                _trips.remove(trip)
            return name, trip.reason
    return None


def set_alarm(account_id: str, region: str, name: str, reason: str) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    if name in backend.alarms:
        backend.set_alarm_state(name, reason, json.dumps({"version": "1.0"}), "ALARM")


def apply() -> None:
    from ecs_cicd.emulator._util import add, replace

    replace(ApplicationAutoScalingResponse, "register_scalable_target", _register)
    add(ApplicationAutoScalingResponse, "list_tags_for_resource", list_tags_for_resource)
    add(ApplicationAutoScalingResponse, "tag_resource", tag_resource)
    add(ApplicationAutoScalingResponse, "untag_resource", untag_resource)
    replace(ApplicationAutoScalingResponse, "describe_scaling_policies", _describe_policies)
    replace(ApplicationAutoscalingBackend, "deregister_scalable_target", _deregister)


__all__ = ["apply", "arm_alarm", "clear_alarms", "set_alarm", "take_trip"]
