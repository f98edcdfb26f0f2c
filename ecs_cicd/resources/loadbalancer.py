"""The application load balancer, its target group(s) and listeners.

The ALB is created without waiting for `active` (`up` waits at the end, overlapping the rest).
For blue/green, CodeDeploy moves the listeners between tg.blue and tg.green on every deploy, so a
listener forwarding to either (or to both, weighted, mid-deployment) is not drift: the listener's
model carries the set of target groups it may forward to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import WaitTimeout
from ecs_cicd.lifecycle import Cancelled, Ctx, Diff, Kind, Live, Resource, tags_of
from ecs_cicd.state import Record

# After DeleteListener / DeleteLoadBalancer, ELBv2 reports the target group "in use by a listener
# or a rule" for ~30 s (AWS-BEHAVIOUR.md): retry up to 2 minutes.
TARGET_GROUP_IN_USE_DEADLINE = 120
# DeleteLoadBalancer returns before the ALB is gone; subnets and groups wait on it.
LOAD_BALANCER_DELETE_DEADLINE = 600

Tags = tuple[tuple[str, str], ...]


# --- desired state ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, kw_only=True)
class LoadBalancer(Resource):
    kind = "load_balancer"
    name: str
    subnets: tuple[Resource, ...]
    security_group: Resource
    scheme: str = "internet-facing"
    idle_timeout: int
    ip_address_type: str = "ipv4"  # dualstack: `domain` adds an AAAA alias record too


@dataclass(frozen=True, eq=False, kw_only=True)
class TargetGroup(Resource):
    kind = "target_group"
    name: str
    color: str
    vpc: Resource
    protocol: str = "HTTP"
    port: int
    target_type: str = "ip"
    health_check: dict[str, Any]  # CreateTargetGroup / ModifyTargetGroup's health check keys
    deregistration_delay: int


@dataclass(frozen=True, eq=False, kw_only=True)
class Listener(Resource):
    kind = "listener"
    load_balancer: LoadBalancer
    port: int
    protocol: str  # HTTP | HTTPS
    target_group: TargetGroup  # where it forwards (unless it redirects)
    redirect: dict[str, str] | None = None  # RedirectConfig: HTTP -> HTTPS
    certificate_arn: str | None = None
    # A certificate this stack requests (`domain`): its ARN is known once it exists.
    certificate: Resource | None = None
    ssl_policy: str | None = None
    # Forwarding to any of these (alone or weighted) is converged: CodeDeploy's blue/green swaps.
    accepted: tuple[TargetGroup, ...] = ()


def build_load_balancer(
    cfg: Config,
    subnets: Sequence[Resource],
    sg_alb: Resource,
    tags: Tags,
    *,
    after: tuple[Resource, ...] = (),
) -> LoadBalancer:
    return LoadBalancer(
        logical_id="alb",
        tags=tags,
        after=tuple(after),
        name=names.alb(cfg),
        subnets=tuple(subnets),
        security_group=sg_alb,
        idle_timeout=cfg.load_balancer.idle_timeout,
    )


def health_check(cfg: Config) -> dict[str, Any]:
    hc = cfg.load_balancer.health_check
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


def build_target_group(cfg: Config, vpc: Resource, color: str, tags: Tags) -> TargetGroup:
    return TargetGroup(
        logical_id=f"tg.{color}",
        tags=tags,
        name=names.target_group(cfg, color),
        color=color,
        vpc=vpc,
        port=cfg.task.endpoint.port,
        health_check=health_check(cfg),
        deregistration_delay=cfg.load_balancer.deregistration_delay,
    )


def build_listeners(
    cfg: Config,
    alb: LoadBalancer,
    prod_tg: TargetGroup,
    green_tg: TargetGroup | None,
    t: Callable[[str], Tags],
    certificate: Resource | None = None,
) -> tuple[Listener, ...]:
    """listener.http (forward, or redirect to HTTPS with a certificate), listener.https, and the
    blue/green test listener forwarding to green. `certificate`: the one `domain` requests
    (used when load_balancer.certificate_arn is not given)."""
    lbc = cfg.load_balancer
    accepted = (prod_tg, green_tg) if green_tg is not None else (prod_tg,)
    https = bool(lbc.certificate_arn or certificate is not None)
    redirect = (
        {"Protocol": "HTTPS", "Port": str(lbc.https_port), "StatusCode": "HTTP_301"}
        if https
        else None
    )
    out = [
        Listener(
            logical_id="listener.http",
            tags=t("listener.http"),
            load_balancer=alb,
            port=lbc.listener_port,
            protocol="HTTP",
            target_group=prod_tg,
            redirect=redirect,
            accepted=accepted,
        )
    ]
    if https:
        out.append(
            Listener(
                logical_id="listener.https",
                tags=t("listener.https"),
                load_balancer=alb,
                port=lbc.https_port,
                protocol="HTTPS",
                target_group=prod_tg,
                certificate_arn=lbc.certificate_arn,
                certificate=None if lbc.certificate_arn else certificate,
                ssl_policy=lbc.ssl_policy,
                accepted=accepted,
            )
        )
    test_port = cfg.pipeline.deploy.blue_green.test_listener_port
    if green_tg is not None and test_port:
        out.append(
            Listener(
                logical_id="listener.test",
                tags=t("listener.test"),
                load_balancer=alb,
                port=test_port,
                protocol="HTTP",
                target_group=green_tg,
                accepted=accepted,
            )
        )
    return tuple(out)


# --- shared reads ----------------------------------------------------------------------------
def _first(call: Any, key: str, **kwargs: Any) -> dict[str, Any] | None:
    """The first item of an ELBv2 describe call; its NotFound error means None."""
    try:
        items: list[dict[str, Any]] = call(**kwargs)[key]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    return items[0] if items else None


def _tags(ctx: Ctx, arn: str) -> dict[str, str]:
    def read() -> dict[str, str]:
        if ctx.batch_reads:
            known = ctx.shared("elbv2:DescribeTags", lambda: _recorded_tags(ctx))
            if arn in known:
                return known[arn]
        desc = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return tags_dict(desc[0].get("Tags")) if desc else {}

    return tags_of(ctx, arn, read)


# The kinds whose tags one DescribeTags reads together (it takes up to 20 ARNs of any of them).
ELBV2_KINDS = ("load_balancer", "target_group", "listener")
DESCRIBE_TAGS_MAX = 20


def _recorded_tags(ctx: Ctx) -> dict[str, dict[str, str]]:
    """The tags of every recorded load balancer, target group and listener: one DescribeTags
    per 20 (instead of one each). One of them gone fails the call: then each is read alone."""
    arns = sorted(
        {
            r.physical_id
            for k in ELBV2_KINDS
            for r in ctx.recorded(k)
            if r.physical_id.startswith("arn:")
        }
    )
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(arns), DESCRIBE_TAGS_MAX):
        try:
            desc = ctx.client("elbv2").describe_tags(ResourceArns=arns[i : i + DESCRIBE_TAGS_MAX])
        except ClientError as e:
            if is_not_found(e):
                continue
            raise
        for d in desc["TagDescriptions"]:
            out[d["ResourceArn"]] = tags_dict(d.get("Tags"))
    return out


def _attributes(items: list[dict[str, str]]) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in items}


def _suffix(arn: str) -> str:
    """CloudWatch's ARN suffix: `app/name/id` of a load balancer, `targetgroup/name/id`."""
    return arn.split(":", 5)[5].removeprefix("loadbalancer/")


def _number(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _add_tags(ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
    ctx.client("elbv2").add_tags(ResourceArns=[live.physical_id], Tags=tags_list(tags))


# --- load balancer ---------------------------------------------------------------------------
class LoadBalancerKind(Kind[LoadBalancer]):
    kind = "load_balancer"
    label = "load balancer"
    settings_reads = True

    def lookup(self, ctx: Ctx, ident: str, rec: Record | None) -> Live | None:
        """By ARN (the recorded id) or by name (the desired one)."""
        key = "LoadBalancerArns" if ident.startswith("arn:") else "Names"
        lb = _first(ctx.client("elbv2").describe_load_balancers, "LoadBalancers", **{key: [ident]})
        return self._live(ctx, lb)

    def _live(self, ctx: Ctx, lb: dict[str, Any] | None) -> Live | None:
        if lb is None:
            return None
        return self._live_from(lb, _tags(ctx, lb["LoadBalancerArn"]))

    def create(self, ctx: Ctx, want: LoadBalancer) -> Live:
        lb = ctx.client("elbv2").create_load_balancer(
            Name=want.name,
            Subnets=[ctx.id_of(s) for s in want.subnets],
            SecurityGroups=[ctx.id_of(want.security_group)],
            Scheme=want.scheme,
            Type="application",
            IpAddressType=want.ip_address_type,
            Tags=tags_list(want.tag_dict),
        )["LoadBalancers"][0]
        return self._live_from(lb, want.tag_dict)

    def _live_from(self, lb: dict[str, Any], tags: dict[str, str]) -> Live:
        arn = lb["LoadBalancerArn"]
        outputs = {
            "name": lb["LoadBalancerName"],
            "dns_name": lb["DNSName"],
            "arn_suffix": _suffix(arn),
            "canonical_zone_id": lb.get("CanonicalHostedZoneId"),
        }
        return Live(arn, arn, tags, lb, outputs)

    def configure(self, ctx: Ctx, want: LoadBalancer, live: Live) -> Live | None:
        if self._idle_diff(ctx, want, live):
            self._set_idle_timeout(ctx, want, live)
        return None

    def diff(self, ctx: Ctx, want: LoadBalancer, live: Live) -> list[Diff]:
        lb = live.data
        out: list[Diff] = []
        sg = ctx.id_of(want.security_group)
        have_sgs = sorted(lb.get("SecurityGroups", []))
        if have_sgs != [sg]:
            out.append(Diff("security_groups", have_sgs, [sg]))
        subnets = sorted(ctx.id_of(s) for s in want.subnets)
        have_subnets = sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []))
        if have_subnets != subnets:
            out.append(Diff("subnets", have_subnets, subnets))
        if not ctx.trusts(want, live):
            out += self._idle_diff(ctx, want, live)
        return out

    def _idle_diff(self, ctx: Ctx, want: LoadBalancer, live: Live) -> list[Diff]:
        attrs = _attributes(
            ctx.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=live.physical_id)[
                "Attributes"
            ]
        )
        have = attrs.get("idle_timeout.timeout_seconds")
        if have == str(want.idle_timeout):
            return []
        return [Diff("idle_timeout", _number(have), want.idle_timeout)]

    def update(self, ctx: Ctx, want: LoadBalancer, live: Live, diffs: list[Diff]) -> Live | None:
        elb = ctx.client("elbv2")
        fields = {d.field for d in diffs}
        if "security_groups" in fields:
            elb.set_security_groups(
                LoadBalancerArn=live.physical_id, SecurityGroups=[ctx.id_of(want.security_group)]
            )
        if "subnets" in fields:
            elb.set_subnets(
                LoadBalancerArn=live.physical_id, Subnets=[ctx.id_of(s) for s in want.subnets]
            )
        if "idle_timeout" in fields:
            self._set_idle_timeout(ctx, want, live)
        return None

    def _set_idle_timeout(self, ctx: Ctx, want: LoadBalancer, live: Live) -> None:
        ctx.client("elbv2").modify_load_balancer_attributes(
            LoadBalancerArn=live.physical_id,
            Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": str(want.idle_timeout)}],
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        _add_tags(ctx, live, tags)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        elb = ctx.client("elbv2")
        arn = rec.physical_id
        elb.delete_load_balancer(LoadBalancerArn=arn)
        # Wait until it is gone, so the subnets and security groups deleted next can go.
        what = self.what(str(rec.outputs.get("name", arn)))
        deadline = time.monotonic() + LOAD_BALANCER_DELETE_DEADLINE
        delay = 1.0
        while _first(elb.describe_load_balancers, "LoadBalancers", LoadBalancerArns=[arn]):
            if ctx.cancel.is_set():
                raise Cancelled(f"interrupted while waiting for {what} to be deleted")
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{what} still exists {LOAD_BALANCER_DELETE_DEADLINE} s after its deletion",
                    hint="run `down` again",
                )
            ctx.sleep(delay)
            delay = min(delay * 2, 10.0)

    def summary(self, want: LoadBalancer) -> list[str]:
        return [
            f"{want.scheme} ALB in {len(want.subnets)} subnets",
            f"idle timeout {want.idle_timeout} s",
        ]


# --- target groups ---------------------------------------------------------------------------
class TargetGroupKind(Kind[TargetGroup]):
    kind = "target_group"
    label = "target group"
    settings_reads = True

    def lookup(self, ctx: Ctx, ident: str, rec: Record | None) -> Live | None:
        """By ARN (the recorded id) or by name (the desired one)."""
        key = "TargetGroupArns" if ident.startswith("arn:") else "Names"
        tg = _first(ctx.client("elbv2").describe_target_groups, "TargetGroups", **{key: [ident]})
        return self._live(ctx, tg)

    def _live(self, ctx: Ctx, tg: dict[str, Any] | None) -> Live | None:
        if tg is None:
            return None
        return self._live_from(tg, _tags(ctx, tg["TargetGroupArn"]))

    def _live_from(self, tg: dict[str, Any], tags: dict[str, str]) -> Live:
        arn = tg["TargetGroupArn"]
        return Live(arn, arn, tags, tg, {"name": tg["TargetGroupName"], "arn_suffix": _suffix(arn)})

    def create(self, ctx: Ctx, want: TargetGroup) -> Live:
        tg = ctx.client("elbv2").create_target_group(
            Name=want.name,
            Protocol=want.protocol,
            Port=want.port,
            VpcId=ctx.id_of(want.vpc),
            TargetType=want.target_type,
            Tags=tags_list(want.tag_dict),
            **want.health_check,
        )["TargetGroups"][0]
        return self._live_from(tg, want.tag_dict)

    def configure(self, ctx: Ctx, want: TargetGroup, live: Live) -> Live | None:
        if self._delay_diff(ctx, want, live):
            self._set_delay(ctx, want, live)
        return None

    def diff(self, ctx: Ctx, want: TargetGroup, live: Live) -> list[Diff]:
        tg = live.data
        out = [Diff(k, tg.get(k), v) for k, v in want.health_check.items() if tg.get(k) != v]
        return out if ctx.trusts(want, live) else out + self._delay_diff(ctx, want, live)

    def _delay_diff(self, ctx: Ctx, want: TargetGroup, live: Live) -> list[Diff]:
        attrs = _attributes(
            ctx.client("elbv2").describe_target_group_attributes(TargetGroupArn=live.physical_id)[
                "Attributes"
            ]
        )
        have = attrs.get("deregistration_delay.timeout_seconds")
        if have == str(want.deregistration_delay):
            return []
        return [Diff("deregistration_delay", _number(have), want.deregistration_delay)]

    def update(self, ctx: Ctx, want: TargetGroup, live: Live, diffs: list[Diff]) -> Live | None:
        fields = {d.field for d in diffs}
        if fields & set(want.health_check):
            ctx.client("elbv2").modify_target_group(
                TargetGroupArn=live.physical_id, **want.health_check
            )
        if "deregistration_delay" in fields:
            self._set_delay(ctx, want, live)
        return None

    def _set_delay(self, ctx: Ctx, want: TargetGroup, live: Live) -> None:
        ctx.client("elbv2").modify_target_group_attributes(
            TargetGroupArn=live.physical_id,
            Attributes=[
                {
                    "Key": "deregistration_delay.timeout_seconds",
                    "Value": str(want.deregistration_delay),
                }
            ],
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        _add_tags(ctx, live, tags)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        retry_on(
            lambda: ctx.client("elbv2").delete_target_group(TargetGroupArn=rec.physical_id),
            codes=("ResourceInUse",),
            fragment="in use by a listener or a rule",
            deadline=TARGET_GROUP_IN_USE_DEADLINE,
            sleep=ctx.sleep,
        )

    def summary(self, want: TargetGroup) -> list[str]:
        return [
            f"{want.protocol}:{want.port}, {want.target_type} targets, "
            f"health check {want.health_check['HealthCheckPath']}",
            f"deregistration delay {want.deregistration_delay} s",
        ]


# --- listeners -------------------------------------------------------------------------------
# ELBv2 may answer CertificateNotFound for a certificate ACM has just issued (or IAM just
# uploaded): eventual consistency, retried for up to 2 minutes.
CERTIFICATE_LAG_DEADLINE = 120


def _certificate_lag(ctx: Ctx, call: Callable[[], Any]) -> Any:
    return retry_on(
        call,
        codes=("CertificateNotFound",),
        fragment=None,
        deadline=CERTIFICATE_LAG_DEADLINE,
        sleep=ctx.sleep,
    )


def _forward_targets(action: dict[str, Any]) -> set[str]:
    arns = {g["TargetGroupArn"] for g in action.get("ForwardConfig", {}).get("TargetGroups", [])}
    if action.get("TargetGroupArn"):
        arns.add(action["TargetGroupArn"])
    return arns


def forward_weights(action: dict[str, Any]) -> dict[str, int]:
    """A forward action's target groups and weights (a plain forward: its one group, weight 1)."""
    groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
    if groups:
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
    return {action["TargetGroupArn"]: 1} if action.get("TargetGroupArn") else {}


def _tg_name(arn: str) -> str:
    """`arn:...:targetgroup/<name>/<id>` -> name."""
    parts = arn.rsplit(":", 1)[-1].split("/")
    return parts[1] if len(parts) == 3 else arn


def _describe_actions(actions: list[dict[str, Any]]) -> str:
    """A listener's default actions as AWS reports them, in a few words."""
    out = []
    for a in actions:
        if a.get("Type") == "redirect":
            c = a.get("RedirectConfig", {})
            out.append(
                f"redirect {c.get('StatusCode')} to {c.get('Protocol', '#{protocol}')}:"
                f"{c.get('Port', '#{port}')}"
            )
        elif a.get("Type") == "forward":
            groups = a.get("ForwardConfig", {}).get("TargetGroups", [])
            if len(groups) > 1:
                out.append(
                    "forward to "
                    + ", ".join(
                        f"{_tg_name(g['TargetGroupArn'])} ({g.get('Weight')})" for g in groups
                    )
                )
            else:
                out.append("forward to " + ", ".join(sorted(map(_tg_name, _forward_targets(a)))))
        else:
            out.append(str(a.get("Type")))
    return "; ".join(out) or "none"


class ListenerKind(Kind[Listener]):
    kind = "listener"
    label = "listener"

    def name(self, want: Listener) -> str:
        return f"{want.load_balancer.name}:{want.port}"

    def want_action(self, ctx: Ctx, want: Listener) -> dict[str, Any]:
        if want.redirect is not None:
            return {"Type": "redirect", "RedirectConfig": dict(want.redirect)}
        return {"Type": "forward", "TargetGroupArn": ctx.arn_of(want.target_group)}

    def attach_action(self, ctx: Ctx, want: Listener, live: Live) -> dict[str, Any] | None:
        """A strategy switch, before the new service exists: the default action that also
        forwards to `want.target_group` at weight 0, so ECS accepts it for the new service (a
        target group must be associated with the load balancer) while the groups serving
        traffic keep their weights. None: nothing to do (already forwarding to it, or not
        forwarding at all)."""
        actions = live.data.get("DefaultActions", [])
        if want.redirect is not None or len(actions) != 1 or actions[0].get("Type") != "forward":
            return None
        weights = forward_weights(actions[0])
        new = ctx.arn_of(want.target_group)
        if not weights or new in weights:
            return None
        groups = [{"TargetGroupArn": arn, "Weight": w} for arn, w in weights.items()]
        groups.append({"TargetGroupArn": new, "Weight": 0})
        return {"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}

    def _want_text(self, want: Listener) -> str:
        if want.redirect is not None:
            r = want.redirect
            return f"redirect {r['StatusCode']} to {r['Protocol']}:{r['Port']}"
        return f"forward to {want.target_group.name}"

    def find(self, ctx: Ctx, want: Listener, rec: Record | None) -> Live | None:
        if rec is not None:
            live = self.find_recorded(ctx, rec)
            if live is not None:
                return live
        elb = ctx.client("elbv2")
        try:
            listeners = elb.describe_listeners(LoadBalancerArn=ctx.id_of(want.load_balancer))[
                "Listeners"
            ]
        except ClientError as e:
            if is_not_found(e):  # the load balancer recorded is gone: so is the listener
                return None
            raise
        found = [x for x in listeners if x.get("Port") == want.port]
        return self._live(ctx, found[0]) if found else None

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        elb = ctx.client("elbv2")
        li = _first(elb.describe_listeners, "Listeners", ListenerArns=[rec.physical_id])
        return self._live(ctx, li) if li else None

    def _live(self, ctx: Ctx, li: dict[str, Any]) -> Live:
        arn = li["ListenerArn"]
        return Live(arn, arn, _tags(ctx, arn), li, {"port": li.get("Port")})

    def create(self, ctx: Ctx, want: Listener) -> Live:
        li = _certificate_lag(
            ctx,
            lambda: ctx.client("elbv2").create_listener(
                LoadBalancerArn=ctx.id_of(want.load_balancer),
                Protocol=want.protocol,
                Port=want.port,
                DefaultActions=[self.want_action(ctx, want)],
                Tags=tags_list(want.tag_dict),
                **self._tls(ctx, want),
            ),
        )["Listeners"][0]
        arn = li["ListenerArn"]
        return Live(arn, arn, want.tag_dict, li, {"port": want.port})

    def _cert(self, ctx: Ctx, want: Listener) -> str | None:
        if want.certificate is not None:
            return ctx.arn_of(want.certificate)
        return want.certificate_arn

    def _tls(self, ctx: Ctx, want: Listener) -> dict[str, Any]:
        cert = self._cert(ctx, want)
        if cert is None:
            return {}
        return {
            "Certificates": [{"CertificateArn": cert}],
            "SslPolicy": want.ssl_policy,
        }

    def _action_matches(self, ctx: Ctx, want: Listener, have: list[dict[str, Any]]) -> bool:
        if len(have) != 1:
            return False
        if want.redirect is not None:
            got = have[0].get("RedirectConfig", {})
            return have[0].get("Type") == "redirect" and all(
                got.get(k) == v for k, v in want.redirect.items()
            )
        if have[0].get("Type") != "forward":
            return False
        accept = {ctx.arn_of(tg) for tg in (want.target_group, *want.accepted)}
        targets = _forward_targets(have[0])
        return bool(targets) and targets <= accept

    def diff(self, ctx: Ctx, want: Listener, live: Live) -> list[Diff]:
        li = live.data
        out: list[Diff] = []
        if li.get("Port") != want.port:
            out.append(Diff("port", li.get("Port"), want.port))
        if li.get("Protocol") != want.protocol:
            out.append(Diff("protocol", li.get("Protocol"), want.protocol))
        actions = li.get("DefaultActions", [])
        if not self._action_matches(ctx, want, actions):
            out.append(Diff("default action", _describe_actions(actions), self._want_text(want)))
        cert = self._cert(ctx, want)
        if cert is not None:
            certs = [c["CertificateArn"] for c in li.get("Certificates", [])]
            if certs != [cert]:
                out.append(Diff("certificates", certs, [cert]))
            if li.get("SslPolicy") != want.ssl_policy:
                out.append(Diff("ssl_policy", li.get("SslPolicy"), want.ssl_policy))
        return out

    def update(self, ctx: Ctx, want: Listener, live: Live, diffs: list[Diff]) -> Live | None:
        # Only what differs is sent: a certificate fix must not undo CodeDeploy's blue/green swap.
        fields = {d.field for d in diffs}
        update: dict[str, Any] = {}
        if "port" in fields:
            update["Port"] = want.port
        if "protocol" in fields:
            update["Protocol"] = want.protocol
            update.update(self._tls(ctx, want))
        if "default action" in fields:
            update["DefaultActions"] = [self.want_action(ctx, want)]
        if "certificates" in fields:
            update["Certificates"] = self._tls(ctx, want)["Certificates"]
        if "ssl_policy" in fields:
            update["SslPolicy"] = want.ssl_policy
        if not update:
            return None
        _certificate_lag(
            ctx, lambda: ctx.client("elbv2").modify_listener(ListenerArn=live.physical_id, **update)
        )
        if "port" in fields:
            return Live(live.physical_id, live.arn, live.tags, live.data, {"port": want.port})
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        _add_tags(ctx, live, tags)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        ctx.client("elbv2").delete_listener(ListenerArn=rec.physical_id)

    def summary(self, want: Listener) -> list[str]:
        return [f"{want.protocol}:{want.port} -> {self._want_text(want)}"]


KINDS = (LoadBalancerKind(), TargetGroupKind(), ListenerKind())
