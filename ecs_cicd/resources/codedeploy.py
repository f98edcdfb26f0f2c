"""CodeDeploy for blue/green: the ECS application, its deployment group, the deployment `up`
starts when a CODE_DEPLOY service must move to a new task definition revision, and the wait
that follows that deployment.

A CODE_DEPLOY service cannot take a new task definition through UpdateService (service.py
leaves it alone); the deployment group handler runs after the service and starts a CodeDeploy
deployment with an app spec naming the new revision. FORMATS.md, "Blue/green with CodeDeploy".
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.errors import AwsError, DeploymentFailed
from ecs_cicd.names import STACK_TAG
from ecs_cicd.state import Record
from ecs_cicd.waiters import poll

GROUP_ID = "codedeploy.group"
# CreateDeploymentGroup / UpdateDeploymentGroup right after the role is created: "Cannot assume
# role provided." until IAM has propagated it (AWS-BEHAVIOUR.md; Terraform retries 5 minutes).
ROLE_LAG_DEADLINE = 300
ROLE_LAG_MESSAGE = "Cannot assume role provided"
# A deployment in these states still owns the group: AWS refuses a second one.
ACTIVE_STATUSES = ["Created", "Queued", "InProgress", "Baking", "Ready"]
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST"]


def _outcome(
    spec: Spec, action: Action, pid: str | None, changes: list[str] | None = None
) -> Outcome:
    return Outcome(spec.logical_id, spec.kind, action, changes or [], pid)


def _refuse_stranger(ctx: Ctx, arn: str, what: str) -> None:
    """One of our names without our stack tag is someone else's (Terraform's?): never adopt it."""
    tags = tags_dict(ctx.client("codedeploy").list_tags_for_resource(ResourceArn=arn).get("Tags"))
    if tags.get(STACK_TAG) != ctx.cfg.stack:
        raise AwsError(
            "Adopting",
            what,
            "NotThisStack",
            f"it exists but does not carry the tag {STACK_TAG}={ctx.cfg.stack}, so it is not this "
            "stack's",
            hint="delete it, or change project/environment",
        )


# --- application -----------------------------------------------------------------------------
def get_application(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        app: dict[str, Any] = ctx.client("codedeploy").get_application(applicationName=name)[
            "application"
        ]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"CodeDeploy application {name}", e) from None
    return app


class ApplicationHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        name = names.codedeploy_app(ctx.cfg)
        arn = ctx.arn("codedeploy", f"application:{name}")
        rec = ctx.state.get(spec.logical_id)
        app = get_application(ctx, name)
        action: Action
        if app is None:
            if ctx.dry_run:
                return _outcome(spec, "create", None, ["compute platform ECS"])
            try:
                ctx.client("codedeploy").create_application(
                    applicationName=name,
                    computePlatform="ECS",
                    tags=tags_list(ctx.tags(spec.logical_id)),
                )
            except ClientError as e:
                raise aws_error("Creating", f"CodeDeploy application {name}", e) from None
            action = "create"
        else:
            if rec is None:
                _refuse_stranger(ctx, arn, f"CodeDeploy application {name}")
            if app.get("computePlatform") != "ECS":
                raise AwsError(
                    "Adopting",
                    f"CodeDeploy application {name}",
                    "WrongComputePlatform",
                    f"its compute platform is {app.get('computePlatform')}; blue/green on ECS "
                    "needs ECS, and AWS cannot change it",
                    hint="run `down` (or delete the application) and `up` again",
                )
            action = "adopt" if rec is None else "unchanged"
        ctx.record(Record(spec.logical_id, spec.kind, name, arn=arn))
        return _outcome(spec, action, name)

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        name = record.physical_id
        if get_application(ctx, name) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], name)
        try:
            # Also deletes the application's deployment groups.
            ctx.client("codedeploy").delete_application(applicationName=name)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"CodeDeploy application {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)


# --- deployment group: what the config asks for ----------------------------------------------
def production_listener(ctx: Ctx) -> str:
    """The listener that forwards production traffic: HTTPS when a certificate is set (HTTP then
    only redirects), else HTTP."""
    return "listener.https" if ctx.cfg.load_balancer.certificate_arn else "listener.http"


def desired_group(ctx: Ctx) -> dict[str, Any]:
    """CreateDeploymentGroup / UpdateDeploymentGroup parameters, names and tags aside."""
    cfg = ctx.cfg
    bg = cfg.pipeline.deploy.blue_green
    ready: dict[str, Any] = {"actionOnTimeout": bg.ready_action}
    if bg.ready_action == "STOP_DEPLOYMENT":
        ready["waitTimeInMinutes"] = bg.ready_wait_minutes
    pair: dict[str, Any] = {
        "targetGroups": [
            {"name": names.target_group(cfg, "blue")},
            {"name": names.target_group(cfg, "green")},
        ],
        "prodTrafficRoute": {"listenerArns": [ctx.out(production_listener(ctx))]},
    }
    if bg.test_listener_port is not None:
        pair["testTrafficRoute"] = {"listenerArns": [ctx.out("listener.test")]}
    service = ctx.dep("service")
    return {
        "serviceRoleArn": ctx.out("role.codedeploy", "arn"),
        "deploymentConfigName": bg.deployment_config,
        "deploymentStyle": {
            "deploymentType": "BLUE_GREEN",
            "deploymentOption": "WITH_TRAFFIC_CONTROL",
        },
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": ready,
            "terminateBlueInstancesOnDeploymentSuccess": {
                "action": "TERMINATE",
                "terminationWaitTimeInMinutes": bg.termination_wait_minutes,
            },
        },
        "autoRollbackConfiguration": {"enabled": True, "events": list(ROLLBACK_EVENTS)},
        "ecsServices": [
            {
                "clusterName": service.outputs.get("cluster") or names.cluster(cfg),
                "serviceName": service.physical_id,
            }
        ],
        "loadBalancerInfo": {"targetGroupPairInfoList": [pair]},
    }


def _listeners(pair: dict[str, Any], route: str) -> str:
    return ", ".join(sorted(pair.get(route, {}).get("listenerArns", []))) or "none"


def group_summary(group: dict[str, Any]) -> dict[str, str]:
    """The managed settings of a deployment group (desired parameters or GetDeploymentGroup's
    deploymentGroupInfo) as comparable strings; AWS's defaults and ordering are ignored."""
    style = group.get("deploymentStyle") or {}
    bgc = group.get("blueGreenDeploymentConfiguration") or {}
    ready = bgc.get("deploymentReadyOption") or {}
    on_timeout = ready.get("actionOnTimeout", "CONTINUE_DEPLOYMENT")
    if on_timeout == "STOP_DEPLOYMENT":
        on_timeout += f" after {ready.get('waitTimeInMinutes', 0)} min"
    term = bgc.get("terminateBlueInstancesOnDeploymentSuccess") or {}
    rollback = group.get("autoRollbackConfiguration") or {}
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or [{}]
    pair = pairs[0]
    return {
        "deploymentConfigName": str(group.get("deploymentConfigName")),
        "serviceRoleArn": str(group.get("serviceRoleArn")),
        "deploymentStyle": f"{style.get('deploymentType')}/{style.get('deploymentOption')}",
        "deploymentReadyOption": on_timeout,
        "terminateBlue": (
            f"{term.get('action', 'KEEP_ALIVE')} after "
            f"{term.get('terminationWaitTimeInMinutes', 0)} min"
        ),
        "autoRollback": (
            "on " + ", ".join(sorted(rollback.get("events") or []))
            if rollback.get("enabled")
            else "off"
        ),
        "ecsServices": ", ".join(
            sorted(
                f"{s.get('clusterName')}/{s.get('serviceName')}"
                for s in group.get("ecsServices") or []
            )
        ),
        "targetGroups": ", ".join(sorted(str(t.get("name")) for t in pair.get("targetGroups", []))),
        "prodTrafficRoute": _listeners(pair, "prodTrafficRoute"),
        "testTrafficRoute": _listeners(pair, "testTrafficRoute"),
    }


def group_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    w, h = group_summary(want), group_summary(have)
    return [f"{k}: {h[k]} -> {w[k]}" for k in w if w[k] != h[k]]


# --- app spec (pure) -------------------------------------------------------------------------
def appspec_content(cfg: Config, taskdef_arn: str) -> str:
    """The ECS app spec (YAML) that deploys `taskdef_arn` behind the endpoint container."""
    spec = {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": taskdef_arn,
                        "LoadBalancerInfo": {
                            "ContainerName": cfg.task.endpoint.container,
                            "ContainerPort": cfg.task.endpoint.port,
                        },
                    },
                }
            }
        ],
    }
    return yaml.safe_dump(spec, sort_keys=False)


def appspec_task_definition(revision: dict[str, Any] | None) -> str | None:
    """The TaskDefinition an AppSpecContent revision deploys (None for S3 revisions etc.)."""
    content = ((revision or {}).get("appSpecContent") or {}).get("content")
    if not content:
        return None
    try:
        doc = yaml.safe_load(content)
        return str(doc["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError):
        return None


# --- deployment group: find, create, converge, deploy ----------------------------------------
def get_deployment_group(ctx: Ctx, app: str, name: str) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = ctx.client("codedeploy").get_deployment_group(
            applicationName=app, deploymentGroupName=name
        )["deploymentGroupInfo"]
    except ClientError as e:
        if is_not_found(e):  # ApplicationDoesNotExist / DeploymentGroupDoesNotExist
            return None
        raise aws_error("Reading", f"CodeDeploy deployment group {app}/{name}", e) from None
    return info


def active_deployment(ctx: Ctx, app: str, group: str) -> str | None:
    """The id of the group's deployment still in flight, if any."""
    ids = (
        ctx.client("codedeploy")
        .list_deployments(
            applicationName=app, deploymentGroupName=group, includeOnlyStatuses=ACTIVE_STATUSES
        )
        .get("deployments", [])
    )
    return str(ids[0]) if ids else None


def _service_task_definition(ctx: Ctx) -> str | None:
    """The service's taskDefinition: for CODE_DEPLOY services, the PRIMARY task set's."""
    rec = ctx.dep("service")
    cluster = rec.outputs.get("cluster") or names.cluster(ctx.cfg)
    try:
        items = ctx.client("ecs").describe_services(cluster=cluster, services=[rec.physical_id])
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"ECS service {rec.physical_id}", e) from None
    svc = next(iter(items.get("services", [])), None)
    return str(svc["taskDefinition"]) if svc and svc.get("taskDefinition") else None


def _role_lag(ctx: Ctx, call: Any) -> Any:
    return retry_on(
        call,
        codes=("InvalidRoleException",),
        fragment=ROLE_LAG_MESSAGE,
        deadline=ROLE_LAG_DEADLINE,
        sleep=ctx.sleep,
    )


class DeploymentGroupHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        cd = ctx.client("codedeploy")
        rec = ctx.state.get(spec.logical_id)
        app = str(ctx.out("codedeploy.app"))
        name = rec.physical_id if rec else names.deployment_group(ctx.cfg)
        what = f"CodeDeploy deployment group {app}/{name}"
        arn = ctx.arn("codedeploy", f"deploymentgroup:{app}/{name}")
        want = desired_group(ctx)
        group = get_deployment_group(ctx, app, name)
        action: Action
        changes: list[str] = []
        if group is None:
            if ctx.dry_run:
                s = group_summary(want)
                return _outcome(
                    spec,
                    "create",
                    None,
                    [s["deploymentConfigName"], f"prod {s['prodTrafficRoute']}"],
                )
            try:
                _role_lag(
                    ctx,
                    lambda: cd.create_deployment_group(
                        applicationName=app,
                        deploymentGroupName=name,
                        tags=tags_list(ctx.tags(spec.logical_id)),
                        **want,
                    ),
                )
            except ClientError as e:
                raise aws_error("Creating", what, e) from None
            action = "create"
        else:
            if rec is None:
                _refuse_stranger(ctx, arn, what)
            action = "adopt" if rec is None else "unchanged"
            changes = group_differences(want, group)
        ctx.record(Record(spec.logical_id, spec.kind, name, arn=arn, outputs={"application": app}))
        if changes and not ctx.dry_run:
            try:
                _role_lag(
                    ctx,
                    lambda: cd.update_deployment_group(
                        applicationName=app, currentDeploymentGroupName=name, **want
                    ),
                )
            except ClientError as e:
                raise aws_error("Updating", what, e) from None
        deploy_changes, deployment = self._deploy(ctx, app, name)
        changes += deploy_changes
        if deployment:
            ctx.record(
                Record(
                    spec.logical_id,
                    spec.kind,
                    name,
                    arn=arn,
                    outputs={"application": app, "deployment": deployment},
                )
            )
        if changes and action == "unchanged":
            action = "update"
        return _outcome(spec, action, name, changes)

    def _deploy(self, ctx: Ctx, app: str, group: str) -> tuple[list[str], str | None]:
        """Start a deployment when the service runs another revision than `up` registered.

        Returns the changes to report and the deployment to follow (None: nothing to follow).
        """
        taskdef = str(ctx.out("taskdef", "arn"))
        current = _service_task_definition(ctx)
        if current is None or current == taskdef:
            return [], None
        cd = ctx.client("codedeploy")
        active = active_deployment(ctx, app, group)
        if active is not None:
            # AWS allows one deployment per group at a time (DeploymentLimitExceededException):
            # follow the one in flight rather than fail or queue behind it.
            revision = cd.get_deployment(deploymentId=active)["deploymentInfo"].get("revision")
            if appspec_task_definition(revision) == taskdef:
                return [f"deploy {taskdef} via CodeDeploy (deployment {active})"], active
            return [
                f"not deploying {taskdef}: CodeDeploy deployment {active} is in progress; run "
                "`up` again once it has finished"
            ], active
        change = f"deploy {taskdef} via CodeDeploy"
        if ctx.dry_run:
            return [change], None
        try:
            deployment_id = str(
                cd.create_deployment(
                    applicationName=app,
                    deploymentGroupName=group,
                    revision={
                        "revisionType": "AppSpecContent",
                        "appSpecContent": {"content": appspec_content(ctx.cfg, taskdef)},
                    },
                    description=f"ecs_cicd up: {taskdef}"[:1000],
                )["deploymentId"]
            )
        except ClientError as e:
            raise aws_error("Starting", f"a CodeDeploy deployment of {taskdef}", e) from None
        return [f"{change} (deployment {deployment_id})"], deployment_id

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        cd = ctx.client("codedeploy")
        app = str(record.outputs.get("application") or names.codedeploy_app(ctx.cfg))
        name = record.physical_id
        what = f"CodeDeploy deployment group {app}/{name}"
        if get_deployment_group(ctx, app, name) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], name)
        try:
            # The service goes next: stop a deployment in flight rather than leave it shifting
            # traffic between task sets of a service being deleted.
            active = active_deployment(ctx, app, name)
            if active is not None:
                try:
                    cd.stop_deployment(deploymentId=active, autoRollbackEnabled=False)
                except ClientError as e:
                    if error_code(e) not in (
                        "DeploymentAlreadyCompletedException",
                        "DeploymentDoesNotExistException",
                    ):
                        raise
            cd.delete_deployment_group(applicationName=app, deploymentGroupName=name)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", what, e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)


# --- waiting ---------------------------------------------------------------------------------
def traffic_shift_minutes(config_name: str) -> int:
    """How long CodeDeploy's built-in canary/linear configs take by design (0 when unknown)."""
    m = re.search(r"Canary\d+Percent(\d+)Minutes?", config_name)
    if m:
        return int(m.group(1))
    m = re.search(r"Linear(\d+)PercentEvery(\d+)Minutes?", config_name)
    if m:
        step, every = int(m.group(1)), int(m.group(2))
        return -(-100 // step) * every
    return 0


def deployment_deadline(cfg: Config) -> float:
    """waits.service plus the time the blue/green settings spend waiting on purpose (traffic
    shift steps, the ready wait, the blue task set's termination wait), so they never time out."""
    bg = cfg.pipeline.deploy.blue_green
    minutes = traffic_shift_minutes(bg.deployment_config) + bg.termination_wait_minutes
    if bg.ready_action == "STOP_DEPLOYMENT":
        minutes += bg.ready_wait_minutes
    return float(cfg.waits.service + 60 * minutes)


def traffic_summary(ctx: Ctx, deployment_id: str) -> str:
    """Blue/green task sets and traffic weights of an ECS deployment, and its current step."""
    cd = ctx.client("codedeploy")
    try:
        ids = cd.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
        if not ids:
            return ""
        targets = cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=ids[:25])
    except ClientError:
        # Progress detail only (DeploymentNotStartedException early on, or no permission to
        # list targets): the status itself still decides the wait.
        return ""
    parts: list[str] = []
    for target in targets.get("deploymentTargets", []):
        ecs = target.get("ecsTarget") or {}
        for ts in sorted(ecs.get("taskSetsInfo", []), key=lambda t: str(t.get("taskSetLabel"))):
            parts.append(
                f"{ts.get('taskSetLabel', '?')} {ts.get('trafficWeight', 0):g}% traffic, "
                f"running {ts.get('runningCount', 0)}/{ts.get('desiredCount', 0)}"
            )
        step = next(
            (e for e in ecs.get("lifecycleEvents", []) if e.get("status") == "InProgress"), None
        )
        if step:
            parts.append(f"step {step.get('lifecycleEventName')}")
    return "; ".join(parts)


def deployment_summary(info: dict[str, Any], traffic: str = "") -> str:
    status = str(info.get("status"))
    overview = {k: v for k, v in (info.get("deploymentOverview") or {}).items() if v}
    out = status
    if overview:
        out += " (" + ", ".join(f"{k} {v}" for k, v in overview.items()) + ")"
    if status == "Ready":
        out += " — waiting for traffic to be rerouted (aws deploy continue-deployment)"
    if traffic:
        out += f": {traffic}"
    return out


def deployment_failure(info: dict[str, Any]) -> DeploymentFailed:
    """AWS's error code and message, and the rollback CodeDeploy started, if any."""
    did = info.get("deploymentId", "?")
    msg = (
        f"CodeDeploy deployment {did} of {info.get('applicationName')}/"
        f"{info.get('deploymentGroupName')} {info.get('status')}"
    )
    err = info.get("errorInformation") or {}
    if err.get("code") or err.get("message"):
        msg += f": {err.get('code', '')}: {err.get('message', '')}".rstrip(": ")
    rollback = info.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        msg += f"; rolled back by deployment {rollback['rollbackDeploymentId']}"
    if rollback.get("rollbackMessage"):
        msg += f" ({rollback['rollbackMessage']})"
    return DeploymentFailed(
        msg,
        hint=f"aws deploy get-deployment --deployment-id {did}; the ECS service's events and "
        "stopped tasks say why the new tasks failed",
    )


def wait_for_deployment(ctx: Ctx, deployment_id: str) -> dict[str, Any]:
    """Until the CodeDeploy deployment Succeeded; Failed or Stopped fails at once."""
    cd = ctx.client("codedeploy")
    last = {"summary": ""}

    def check() -> dict[str, Any] | None:
        info: dict[str, Any] = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = info.get("status")
        traffic = traffic_summary(ctx, deployment_id) if status in ("InProgress", "Ready") else ""
        summary = deployment_summary(info, traffic)
        if summary != last["summary"]:
            ctx.log(f"codedeploy: deployment {deployment_id} {summary}")
            last["summary"] = summary
        if status == "Succeeded":
            return info
        if status in ("Failed", "Stopped"):
            raise deployment_failure(info)
        return None

    return poll(
        ctx,
        f"CodeDeploy deployment {deployment_id} to succeed",
        check,
        deadline=deployment_deadline(ctx.cfg),
        last_seen=lambda: last["summary"],
    )


def wait_for_service_running(ctx: Ctx) -> None:
    """No deployment to follow: the CODE_DEPLOY service runs its desired count. (Its
    `deployments` are empty, so botocore's services_stable would never succeed.)"""
    rec = ctx.state.get("service")
    if rec is None:
        return
    cluster = rec.outputs.get("cluster") or names.cluster(ctx.cfg)
    ecs = ctx.client("ecs")
    last = {"summary": ""}

    def check() -> bool | None:
        items = ecs.describe_services(cluster=cluster, services=[rec.physical_id])
        svc = next(iter(items.get("services", [])), None)
        if svc is None:
            return None  # MISSING right after CreateService: not yet
        running, desired = svc.get("runningCount", 0), svc.get("desiredCount", 0)
        summary = f"{svc.get('status')}, running {running}/{desired}"
        if summary != last["summary"]:
            ctx.log(f"service: {summary}")
            last["summary"] = summary
        return True if svc.get("status") == "ACTIVE" and running == desired else None

    poll(
        ctx,
        f"ECS service {rec.physical_id} to run its desired count",
        check,
        deadline=ctx.cfg.waits.service,
        last_seen=lambda: last["summary"],
    )


def wait_for_deployment_group(ctx: Ctx) -> dict[str, Any] | None:
    """The blue/green wait at the end of `up`: follow the deployment this run started (or one
    still in flight on the group) to Succeeded and return its info; with none, wait until the
    service runs its desired count and return None."""
    rec = ctx.state.get(GROUP_ID)
    deployment: str | None = None
    if rec is not None:
        deployment = rec.outputs.get("deployment")
        if not deployment:
            app = str(rec.outputs.get("application") or names.codedeploy_app(ctx.cfg))
            deployment = active_deployment(ctx, app, rec.physical_id)
    if deployment:
        return wait_for_deployment(ctx, deployment)
    wait_for_service_running(ctx)
    return None
