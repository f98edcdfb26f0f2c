"""The application load balancer, its target group(s) and listeners.

The ALB is created without waiting for `active` (the caller waits at the end, overlapping the
rest of `up`). For blue/green, CodeDeploy moves the listeners between tg.blue and tg.green on
every deploy, so a listener forwarding to either is not drift.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.engine import Action, Cancelled, Ctx, Outcome, Spec
from ecs_cicd.errors import AwsError, WaitTimeout
from ecs_cicd.names import STACK_TAG
from ecs_cicd.state import Record

# After DeleteListener / DeleteLoadBalancer, ELBv2 reports the target group "in use by a listener
# or a rule" for ~30 s (AWS-BEHAVIOUR.md): retry up to 2 minutes.
TARGET_GROUP_IN_USE_DEADLINE = 120
# DeleteLoadBalancer returns before the ALB is gone; subnets and groups wait on it.
LOAD_BALANCER_DELETE_DEADLINE = 600


def _outcome(spec: Spec, action: Action, pid: str, changes: list[str] | None = None) -> Outcome:
    return Outcome(spec.logical_id, spec.kind, action, changes or [], pid)


def _first(call: Any, key: str, **kwargs: Any) -> dict[str, Any] | None:
    """The first item of an ELBv2 describe call; its NotFound error means None."""
    try:
        items: list[dict[str, Any]] = call(**kwargs)[key]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    return items[0] if items else None


def _refuse_stranger(ctx: Ctx, arn: str, what: str, code: str) -> None:
    """A resource of our name that lacks our stack tag belongs to someone else: never adopt it."""
    desc = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
    tags = tags_dict(desc[0]["Tags"]) if desc else {}
    if tags.get(STACK_TAG) != ctx.cfg.stack:
        raise AwsError(
            "Adopting",
            what,
            code,
            f"it exists but does not carry the tag {STACK_TAG}={ctx.cfg.stack}, so it is not this "
            "stack's",
            hint="delete or rename it, or change project/environment",
        )


def _suffix(arn: str) -> str:
    """CloudWatch's ARN suffix: `app/name/id` of a load balancer, `targetgroup/name/id`."""
    return arn.split(":", 5)[5].removeprefix("loadbalancer/")


# --- Load balancer ---------------------------------------------------------------------------
class LoadBalancerHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        elb = ctx.client("elbv2")
        name = names.alb(ctx.cfg)
        rec = ctx.state.get(spec.logical_id)
        lb = (
            _first(elb.describe_load_balancers, "LoadBalancers", LoadBalancerArns=[rec.physical_id])
            if rec
            else None
        )
        found_by_state = lb is not None
        lb = lb or _first(elb.describe_load_balancers, "LoadBalancers", Names=[name])
        subnets = [ctx.out(d) for d in spec.deps if d.startswith("subnet.")]
        sg = ctx.out("sg.alb")
        action: Action
        if lb is None:
            if ctx.dry_run:
                return _outcome(
                    spec, "create", "", [f"internet-facing ALB in {len(subnets)} subnets"]
                )
            try:
                lb = elb.create_load_balancer(
                    Name=name,
                    Subnets=subnets,
                    SecurityGroups=[sg],
                    Scheme="internet-facing",
                    Type="application",
                    IpAddressType="ipv4",
                    Tags=tags_list(ctx.tags(spec.logical_id)),
                )["LoadBalancers"][0]
            except ClientError as e:
                raise aws_error("Creating", f"load balancer {name}", e) from None
            action = "create"
        else:
            if not found_by_state:
                _refuse_stranger(
                    ctx, lb["LoadBalancerArn"], f"load balancer {name}", "DuplicateLoadBalancerName"
                )
            action = "unchanged" if found_by_state else "adopt"
        arn = lb["LoadBalancerArn"]
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                arn,
                arn=arn,
                outputs={"name": name, "dns_name": lb["DNSName"], "arn_suffix": _suffix(arn)},
            )
        )
        what = f"load balancer {name}"
        changes: list[str] = []
        if set(lb.get("SecurityGroups", [])) != {sg}:
            changes.append(f"security groups {sorted(lb.get('SecurityGroups', []))} -> [{sg}]")
            if not ctx.dry_run:
                _mutate(
                    what, lambda: elb.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[sg])
                )
        have_subnets = sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []))
        if have_subnets != sorted(subnets):
            changes.append(f"subnets {have_subnets} -> {sorted(subnets)}")
            if not ctx.dry_run:
                _mutate(what, lambda: elb.set_subnets(LoadBalancerArn=arn, Subnets=subnets))
        attrs = {
            a["Key"]: a["Value"]
            for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        }
        idle = str(ctx.cfg.load_balancer.idle_timeout)
        if attrs.get("idle_timeout.timeout_seconds") != idle:
            changes.append(f"idle_timeout {attrs.get('idle_timeout.timeout_seconds')} -> {idle}")
            if not ctx.dry_run:
                _mutate(
                    what,
                    lambda: elb.modify_load_balancer_attributes(
                        LoadBalancerArn=arn,
                        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": idle}],
                    ),
                )
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, arn, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        elb = ctx.client("elbv2")
        arn = record.physical_id
        what = f"load balancer {record.outputs.get('name', arn)}"
        if _first(elb.describe_load_balancers, "LoadBalancers", LoadBalancerArns=[arn]) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], arn)
        try:
            elb.delete_load_balancer(LoadBalancerArn=arn)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], arn)
            raise aws_error("Deleting", what, e) from None
        # Wait until it is gone, so the subnets and security groups deleted next can go.
        deadline = time.monotonic() + LOAD_BALANCER_DELETE_DEADLINE
        delay = 1.0
        while (
            _first(elb.describe_load_balancers, "LoadBalancers", LoadBalancerArns=[arn]) is not None
        ):
            if ctx.cancel.is_set():
                raise Cancelled(f"interrupted while waiting for {what} to be deleted")
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{what} still exists {LOAD_BALANCER_DELETE_DEADLINE} s after its deletion",
                    hint="run `down` again",
                )
            ctx.sleep(delay)
            delay = min(delay * 2, 10.0)
        return Outcome(record.logical_id, record.kind, "delete", [], arn)


def _mutate(what: str, call: Any) -> None:
    try:
        call()
    except ClientError as e:
        raise aws_error("Updating", what, e) from None


# --- Target groups ---------------------------------------------------------------------------
def desired_health_check(ctx: Ctx) -> dict[str, Any]:
    hc = ctx.cfg.load_balancer.health_check
    return {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": hc.path,
        "HealthCheckIntervalSeconds": hc.interval,
        "HealthCheckTimeoutSeconds": hc.timeout,
        "HealthyThresholdCount": hc.healthy_threshold,
        "UnhealthyThresholdCount": hc.unhealthy_threshold,
        "Matcher": {"HttpCode": hc.matcher},
    }


class TargetGroupHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        elb = ctx.client("elbv2")
        name = names.target_group(ctx.cfg, str(spec.param("color", "main")))
        rec = ctx.state.get(spec.logical_id)
        tg = (
            _first(elb.describe_target_groups, "TargetGroups", TargetGroupArns=[rec.physical_id])
            if rec
            else None
        )
        found_by_state = tg is not None
        tg = tg or _first(elb.describe_target_groups, "TargetGroups", Names=[name])
        hc = desired_health_check(ctx)
        action: Action
        if tg is None:
            vpc_id = ctx.out("vpc")
            if ctx.dry_run:
                return _outcome(
                    spec,
                    "create",
                    "",
                    [f"HTTP:{ctx.cfg.task.endpoint.port}, ip targets, {hc['HealthCheckPath']}"],
                )
            try:
                tg = elb.create_target_group(
                    Name=name,
                    Protocol="HTTP",
                    Port=ctx.cfg.task.endpoint.port,
                    VpcId=vpc_id,
                    TargetType="ip",
                    Tags=tags_list(ctx.tags(spec.logical_id)),
                    **hc,
                )["TargetGroups"][0]
            except ClientError as e:
                raise aws_error("Creating", f"target group {name}", e) from None
            action = "create"
        else:
            if not found_by_state:
                _refuse_stranger(
                    ctx, tg["TargetGroupArn"], f"target group {name}", "DuplicateTargetGroupName"
                )
            action = "unchanged" if found_by_state else "adopt"
        arn = tg["TargetGroupArn"]
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                arn,
                arn=arn,
                outputs={"name": name, "arn_suffix": _suffix(arn)},
            )
        )
        what = f"target group {name}"
        changes = [f"{k} {tg.get(k)!r} -> {v!r}" for k, v in hc.items() if tg.get(k) != v]
        if changes and not ctx.dry_run:
            _mutate(what, lambda: elb.modify_target_group(TargetGroupArn=arn, **hc))
        attrs = {
            a["Key"]: a["Value"]
            for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        }
        delay = str(ctx.cfg.load_balancer.deregistration_delay)
        have_delay = attrs.get("deregistration_delay.timeout_seconds")
        if have_delay != delay:
            changes.append(f"deregistration_delay {have_delay} -> {delay}")
            if not ctx.dry_run:
                _mutate(
                    what,
                    lambda: elb.modify_target_group_attributes(
                        TargetGroupArn=arn,
                        Attributes=[
                            {"Key": "deregistration_delay.timeout_seconds", "Value": delay}
                        ],
                    ),
                )
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, arn, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        elb = ctx.client("elbv2")
        arn = record.physical_id
        try:
            retry_on(
                lambda: elb.delete_target_group(TargetGroupArn=arn),
                codes=("ResourceInUse",),
                fragment="in use by a listener or a rule",
                deadline=TARGET_GROUP_IN_USE_DEADLINE,
                sleep=ctx.sleep,
            )
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], arn)
            raise aws_error(
                "Deleting", f"target group {record.outputs.get('name', arn)}", e
            ) from None
        return Outcome(record.logical_id, record.kind, "delete", [], arn)


# --- Listeners -------------------------------------------------------------------------------
def listener_port(ctx: Ctx, logical_id: str) -> int:
    lb = ctx.cfg.load_balancer
    if logical_id == "listener.https":
        return lb.https_port
    if logical_id == "listener.test":
        port = ctx.cfg.pipeline.deploy.blue_green.test_listener_port
        assert port is not None, "stack.py adds listener.test only with a test port"
        return port
    return lb.listener_port


def _forward_targets(action: dict[str, Any]) -> set[str]:
    arns = {g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])}
    if action.get("TargetGroupArn"):
        arns.add(action["TargetGroupArn"])
    return arns


class ListenerHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        elb = ctx.client("elbv2")
        lbc = ctx.cfg.load_balancer
        port = listener_port(ctx, spec.logical_id)
        https = spec.logical_id == "listener.https"
        redirect = spec.logical_id == "listener.http" and lbc.certificate_arn is not None
        tg_id = str(spec.param("target_group"))
        alb_arn = ctx.out("alb")
        tg_arn = ctx.out(tg_id)
        # CodeDeploy swaps the listeners between blue and green (and may split the weights during
        # a canary/linear deployment): forwarding to either is the normal state, not drift.
        accept = {tg_arn}
        if ctx.cfg.pipeline.deploy.strategy == "blue_green" and tg_id in ("tg.blue", "tg.green"):
            accept = {ctx.out("tg.blue"), ctx.out("tg.green")}
        if redirect:
            want_action: dict[str, Any] = {
                "Type": "redirect",
                "RedirectConfig": {
                    "Protocol": "HTTPS",
                    "Port": str(lbc.https_port),
                    "StatusCode": "HTTP_301",
                },
            }
        else:
            want_action = {"Type": "forward", "TargetGroupArn": tg_arn}
        extra: dict[str, Any] = {}
        if https:
            extra = {
                "Certificates": [{"CertificateArn": lbc.certificate_arn}],
                "SslPolicy": lbc.ssl_policy,
            }
        protocol = "HTTPS" if https else "HTTP"

        rec = ctx.state.get(spec.logical_id)
        listeners = elb.describe_listeners(LoadBalancerArn=alb_arn)["Listeners"]
        by_state = [x for x in listeners if rec and x["ListenerArn"] == rec.physical_id]
        found = by_state or [x for x in listeners if x["Port"] == port]
        action: Action
        what = f"listener {port} of {names.alb(ctx.cfg)}"
        if not found:
            if ctx.dry_run:
                return _outcome(
                    spec,
                    "create",
                    "",
                    [f"{protocol}:{port} -> {_describe_action(want_action, tg_id)}"],
                )
            try:
                li = elb.create_listener(
                    LoadBalancerArn=alb_arn,
                    Protocol=protocol,
                    Port=port,
                    DefaultActions=[want_action],
                    Tags=tags_list(ctx.tags(spec.logical_id)),
                    **extra,
                )["Listeners"][0]
            except ClientError as e:
                raise aws_error("Creating", what, e) from None
            action = "create"
        else:
            li = found[0]
            action = "unchanged" if by_state else "adopt"
        arn = li["ListenerArn"]
        ctx.record(Record(spec.logical_id, spec.kind, arn, arn=arn, outputs={"port": port}))

        # Only what differs is sent: a certificate fix must not undo CodeDeploy's blue/green swap.
        changes: list[str] = []
        update: dict[str, Any] = {}
        if li.get("Port") != port:
            changes.append(f"port {li.get('Port')} -> {port}")
            update["Port"] = port
        if li.get("Protocol") != protocol:
            changes.append(f"protocol {li.get('Protocol')} -> {protocol}")
            update["Protocol"] = protocol
        if not _action_matches(li.get("DefaultActions", []), want_action, accept):
            changes.append(f"default action -> {_describe_action(want_action, tg_id)}")
            update["DefaultActions"] = [want_action]
        if https:
            certs = [c["CertificateArn"] for c in li.get("Certificates", [])]
            if certs != [lbc.certificate_arn]:
                changes.append(f"certificate {certs} -> {lbc.certificate_arn}")
                update["Certificates"] = extra["Certificates"]
            if li.get("SslPolicy") != lbc.ssl_policy:
                changes.append(f"ssl policy {li.get('SslPolicy')} -> {lbc.ssl_policy}")
                update["SslPolicy"] = lbc.ssl_policy
        if update and not ctx.dry_run:
            _mutate(what, lambda: elb.modify_listener(ListenerArn=arn, **update))
        if action == "create":
            changes = []
        elif changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, arn, changes)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        elb = ctx.client("elbv2")
        arn = record.physical_id
        try:
            elb.delete_listener(ListenerArn=arn)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], arn)
            raise aws_error("Deleting", f"listener {record.outputs.get('port', arn)}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], arn)


def _action_matches(have: list[dict[str, Any]], want: dict[str, Any], accept: set[str]) -> bool:
    if len(have) != 1 or have[0].get("Type") != want["Type"]:
        return False
    if want["Type"] == "forward":
        targets = _forward_targets(have[0])
        return bool(targets) and targets <= accept
    got = have[0].get("RedirectConfig", {})
    return all(got.get(k) == v for k, v in want["RedirectConfig"].items())


def _describe_action(action: dict[str, Any], tg_id: str) -> str:
    if action["Type"] == "redirect":
        cfg = action["RedirectConfig"]
        return f"redirect {cfg['StatusCode']} to HTTPS:{cfg['Port']}"
    return f"forward to {tg_id}"
