"""CodeDeploy for blue/green: the ECS application, its deployment group, the deployment `up`
starts when a CODE_DEPLOY service must move to a new task definition revision, and the wait
that follows that deployment.

A CODE_DEPLOY service cannot take a new task definition through UpdateService (service.py
leaves it alone); the deployment group's diff compares the service's task definition with the
revision `up` registered, and its update starts a CodeDeploy deployment with an app spec naming
that revision. FORMATS.md, "Blue/green with CodeDeploy".

The app spec is written here once: `appspec_content` serves both that deployment and the
appspec.yaml `render` writes for the pipeline (with CodeDeploy's `<TASK_DEFINITION>` placeholder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, DeploymentFailed
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.state import Record
from ecs_cicd.waiters import poll

T = TypeVar("T")

APP_ID = "codedeploy.app"
GROUP_ID = "codedeploy.group"
COMPUTE_PLATFORM = "ECS"
# CreateDeploymentGroup / UpdateDeploymentGroup right after the role is created: "Cannot assume
# role provided." until IAM has propagated it (AWS-BEHAVIOUR.md; Terraform retries 5 minutes).
ROLE_LAG_DEADLINE = 300
ROLE_LAG_MESSAGE = "Cannot assume role provided"
# A deployment in these states still owns the group: AWS refuses a second one.
ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST")
# The deployment group's diff field for the revision the service runs (not a group setting).
TASK_DEFINITION = "taskDefinition"


# --- app spec (pure): the one source ----------------------------------------------------------
def appspec_content(container: str, port: int, task_definition: str) -> str:
    """The ECS app spec (YAML, as FORMATS.md shows it) that deploys `task_definition` behind
    `container`:`port`. `render` writes it with CodeDeploy's `<TASK_DEFINITION>` placeholder;
    the deployment `up` starts names the registered revision's ARN."""
    return (
        "version: 0.0\n"
        "Resources:\n"
        "  - TargetService:\n"
        "      Type: AWS::ECS::Service\n"
        "      Properties:\n"
        f"        TaskDefinition: {task_definition}\n"
        "        LoadBalancerInfo:\n"
        f"          ContainerName: {json.dumps(container)}\n"
        f"          ContainerPort: {port}\n"
    )


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


# --- desired state -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, kw_only=True)
class Application(Resource):
    kind = "codedeploy_app"
    name: str
    compute_platform: str = COMPUTE_PLATFORM


@dataclass(frozen=True, eq=False, kw_only=True)
class DeploymentGroup(Resource):
    """A BLUE_GREEN, WITH_TRAFFIC_CONTROL group over the ECS service, its two target groups and
    the production (and test) listener. ARNs of the role and listeners are known only once they
    exist: `parameters` takes them; every other value is here."""

    kind = "deployment_group"
    name: str
    application: Application
    role: Resource
    service: Resource
    taskdef: Resource
    blue: Resource
    green: Resource
    production_listener: Resource
    test_listener: Resource | None
    cluster_name: str
    service_name: str
    target_group_names: tuple[str, str]
    deployment_config: str
    deployment_type: str = "BLUE_GREEN"
    deployment_option: str = "WITH_TRAFFIC_CONTROL"
    ready_action: str = "CONTINUE_DEPLOYMENT"
    ready_wait_minutes: int | None = None  # only with STOP_DEPLOYMENT
    termination_action: str = "TERMINATE"
    termination_wait_minutes: int = 5
    rollback_events: tuple[str, ...] = ROLLBACK_EVENTS
    container_name: str  # the endpoint container the app spec routes traffic to
    container_port: int

    def parameters(
        self,
        *,
        role_arn: str,
        production_listener_arn: str,
        test_listener_arn: str | None,
        service_name: str | None = None,
    ) -> dict[str, Any]:
        """CreateDeploymentGroup / UpdateDeploymentGroup parameters, names and tags aside."""
        ready: dict[str, Any] = {"actionOnTimeout": self.ready_action}
        if self.ready_wait_minutes is not None:
            ready["waitTimeInMinutes"] = self.ready_wait_minutes
        pair: dict[str, Any] = {
            "targetGroups": [{"name": n} for n in self.target_group_names],
            "prodTrafficRoute": {"listenerArns": [production_listener_arn]},
        }
        if test_listener_arn is not None:
            pair["testTrafficRoute"] = {"listenerArns": [test_listener_arn]}
        return {
            "serviceRoleArn": role_arn,
            "deploymentConfigName": self.deployment_config,
            "deploymentStyle": {
                "deploymentType": self.deployment_type,
                "deploymentOption": self.deployment_option,
            },
            "blueGreenDeploymentConfiguration": {
                "deploymentReadyOption": ready,
                "terminateBlueInstancesOnDeploymentSuccess": {
                    "action": self.termination_action,
                    "terminationWaitTimeInMinutes": self.termination_wait_minutes,
                },
            },
            "autoRollbackConfiguration": {"enabled": True, "events": list(self.rollback_events)},
            "ecsServices": [
                {"clusterName": self.cluster_name, "serviceName": service_name or self.service_name}
            ],
            "loadBalancerInfo": {"targetGroupPairInfoList": [pair]},
        }

    def appspec(self, task_definition: str) -> str:
        return appspec_content(self.container_name, self.container_port, task_definition)

    @property
    def wait_minutes(self) -> int:
        """What these settings spend waiting on purpose: the traffic shift's steps, the ready
        wait and the blue task set's termination wait."""
        return (
            traffic_shift_minutes(self.deployment_config)
            + self.termination_wait_minutes
            + (self.ready_wait_minutes or 0)
        )


def build_application(cfg: Config, tags: tuple[tuple[str, str], ...]) -> Application:
    return Application(logical_id=APP_ID, tags=tags, name=names.codedeploy_app(cfg))


def production_listener(listeners: tuple[Resource, ...]) -> Resource:
    """The listener that forwards production traffic: HTTPS when a certificate is set (HTTP then
    only redirects), else HTTP."""
    by_id = {listener.logical_id: listener for listener in listeners}
    return by_id.get("listener.https") or by_id["listener.http"]


def build_deployment_group(
    cfg: Config,
    app: Application,
    role: Resource,
    service: Resource,
    taskdef: Resource,
    tg_blue: Resource,
    tg_green: Resource,
    listeners: tuple[Resource, ...],
    tags: tuple[tuple[str, str], ...],
) -> DeploymentGroup:
    bg = cfg.pipeline.deploy.blue_green
    test = next((x for x in listeners if x.logical_id == "listener.test"), None)
    return DeploymentGroup(
        logical_id=GROUP_ID,
        tags=tags,
        name=names.deployment_group(cfg),
        application=app,
        role=role,
        service=service,
        taskdef=taskdef,
        blue=tg_blue,
        green=tg_green,
        production_listener=production_listener(listeners),
        test_listener=test,
        cluster_name=names.cluster(cfg),
        service_name=names.service(cfg),
        target_group_names=(names.target_group(cfg, "blue"), names.target_group(cfg, "green")),
        deployment_config=bg.deployment_config,
        ready_action=bg.ready_action,
        ready_wait_minutes=bg.ready_wait_minutes if bg.ready_action == "STOP_DEPLOYMENT" else None,
        termination_wait_minutes=bg.termination_wait_minutes,
        container_name=cfg.task.endpoint.container,
        container_port=cfg.task.endpoint.port,
    )


# --- comparing a group -------------------------------------------------------------------------
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


def group_differences(want: dict[str, Any], have: dict[str, Any]) -> list[Diff]:
    w, h = group_summary(want), group_summary(have)
    return [Diff(k, h[k], w[k]) for k in w if w[k] != h[k]]


def desired_group(ctx: Ctx, want: DeploymentGroup) -> dict[str, Any]:
    """`want.parameters` with the role's and listeners' ARNs and the service's recorded name
    (Pending until they exist)."""
    test = want.test_listener
    return want.parameters(
        role_arn=ctx.arn_of(want.role),
        production_listener_arn=ctx.arn_of(want.production_listener),
        test_listener_arn=ctx.arn_of(test) if test is not None else None,
        service_name=service_name(ctx, want),
    )


def service_name(ctx: Ctx, want: DeploymentGroup) -> str:
    """The service's name as recorded: a strategy switch gives the new service the other one."""
    return ctx.id_of(want.service)


# --- reads -------------------------------------------------------------------------------------
def _codedeploy_tags(ctx: Ctx, arn: str) -> dict[str, str]:
    return tags_dict(ctx.client("codedeploy").list_tags_for_resource(ResourceArn=arn).get("Tags"))


def _app_arn(ctx: Ctx, name: str) -> str:
    return ctx.target.arn("codedeploy", f"application:{name}")


def _group_arn(ctx: Ctx, app: str, name: str) -> str:
    return ctx.target.arn("codedeploy", f"deploymentgroup:{app}/{name}")


def get_application(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        app: dict[str, Any] = ctx.client("codedeploy").get_application(applicationName=name)[
            "application"
        ]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    return app


def get_deployment_group(ctx: Ctx, app: str, name: str) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = ctx.client("codedeploy").get_deployment_group(
            applicationName=app, deploymentGroupName=name
        )["deploymentGroupInfo"]
    except ClientError as e:
        if is_not_found(e):  # ApplicationDoesNotExist / DeploymentGroupDoesNotExist
            return None
        raise
    return info


def active_deployment(ctx: Ctx, app: str, group: str) -> str | None:
    """The id of the group's deployment still in flight, if any."""
    ids = (
        ctx.client("codedeploy")
        .list_deployments(
            applicationName=app,
            deploymentGroupName=group,
            includeOnlyStatuses=list(ACTIVE_STATUSES),
        )
        .get("deployments", [])
    )
    return str(ids[0]) if ids else None


def service_task_definition(ctx: Ctx, cluster: str, service: str) -> str | None:
    """The service's taskDefinition (for CODE_DEPLOY services, the PRIMARY task set's); None
    when the service (or its cluster) does not exist."""
    try:
        items = ctx.client("ecs").describe_services(cluster=cluster, services=[service])
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    svc = next(iter(items.get("services", [])), None)
    if not svc or svc.get("status") == "INACTIVE" or not svc.get("taskDefinition"):
        return None
    return str(svc["taskDefinition"])


def _role_lag(ctx: Ctx, call: Callable[[], T]) -> T:
    return retry_on(
        call,
        codes=("InvalidRoleException",),
        fragment=ROLE_LAG_MESSAGE,
        deadline=ROLE_LAG_DEADLINE,
        sleep=ctx.sleep,
    )


# --- application -------------------------------------------------------------------------------
class ApplicationKind(Kind[Application]):
    kind = "codedeploy_app"
    label = "CodeDeploy application"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        app = get_application(ctx, name)
        if app is None:
            return None
        arn = _app_arn(ctx, name)
        return Live(name, arn, _codedeploy_tags(ctx, arn), app)

    def create(self, ctx: Ctx, want: Application) -> Live:
        ctx.client("codedeploy").create_application(
            applicationName=want.name,
            computePlatform=want.compute_platform,
            tags=tags_list(want.tag_dict),
        )
        return Live(want.name, _app_arn(ctx, want.name), want.tag_dict)

    def diff(self, ctx: Ctx, want: Application, live: Live) -> list[Diff]:
        """Nothing to converge but the compute platform, which AWS cannot change: another one
        stops `plan` and `up` before anything is changed."""
        have = (live.data or {}).get("computePlatform")
        if have != want.compute_platform:
            raise AwsError(
                "Reading",
                self.what(live.physical_id),
                "WrongComputePlatform",
                f"its compute platform is {have}; blue/green on ECS needs "
                f"{want.compute_platform}, and AWS cannot change it",
                hint="run `down` (or delete the application) and `up` again",
            )
        return []

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("codedeploy").tag_resource(ResourceArn=live.arn, Tags=tags_list(tags))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # Also deletes the application's deployment groups.
        ctx.client("codedeploy").delete_application(applicationName=rec.physical_id)

    def summary(self, want: Application) -> list[str]:
        return [f"compute platform {want.compute_platform}"]


# --- deployment group --------------------------------------------------------------------------
class DeploymentGroupKind(Kind[DeploymentGroup]):
    kind = "deployment_group"
    label = "CodeDeploy deployment group"

    def find(self, ctx: Ctx, want: DeploymentGroup, rec: Record | None) -> Live | None:
        app = want.application.name
        if rec is not None:
            live = self._get(ctx, str(rec.outputs.get("application") or app), rec.physical_id)
            if live is not None:
                return live
        return self._get(ctx, app, want.name)

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        return self._get(ctx, _recorded_app(ctx, rec), rec.physical_id)

    def _get(self, ctx: Ctx, app: str, name: str) -> Live | None:
        info = get_deployment_group(ctx, app, name)
        if info is None:
            return None
        arn = _group_arn(ctx, app, name)
        return Live(name, arn, _codedeploy_tags(ctx, arn), info, {"application": app})

    def create(self, ctx: Ctx, want: DeploymentGroup) -> Live:
        app = want.application.name
        params = desired_group(ctx, want)
        _role_lag(
            ctx,
            lambda: ctx.client("codedeploy").create_deployment_group(
                applicationName=app,
                deploymentGroupName=want.name,
                tags=tags_list(want.tag_dict),
                **params,
            ),
        )
        return Live(
            want.name, _group_arn(ctx, app, want.name), want.tag_dict, None, {"application": app}
        )

    def configure(self, ctx: Ctx, want: DeploymentGroup, live: Live) -> Live | None:
        # A group made again (deleted by hand) over a service still on an older revision.
        return self._deploy(ctx, want, live)

    def diff(self, ctx: Ctx, want: DeploymentGroup, live: Live) -> list[Diff]:
        out = group_differences(desired_group(ctx, want), live.data or {})
        deploy = self._deploy_diff(ctx, want, live)
        return out + ([deploy] if deploy else [])

    def _deploy_diff(self, ctx: Ctx, want: DeploymentGroup, live: Live) -> Diff | None:
        """The service runs another revision than `up` registered: a deployment to start (or,
        with one in flight, to follow)."""
        taskdef = ctx.arn_of(want.taskdef)
        current = service_task_definition(ctx, want.cluster_name, service_name(ctx, want))
        if current is None or current == taskdef:
            return None
        app = str(live.outputs.get("application") or want.application.name)
        active = active_deployment(ctx, app, live.physical_id)
        if active is None:
            return Diff(TASK_DEFINITION, current, taskdef)
        if self._deploys(ctx, active) == taskdef:
            note = f"{taskdef} is being deployed by CodeDeploy deployment {active}"
        else:
            note = (
                f"not deploying {taskdef}: CodeDeploy deployment {active} is in progress; run "
                "`up` again once it has finished"
            )
        return Diff(TASK_DEFINITION, current, taskdef, note=note)

    def _deploys(self, ctx: Ctx, deployment_id: str) -> str | None:
        info = ctx.client("codedeploy").get_deployment(deploymentId=deployment_id)
        return appspec_task_definition(info["deploymentInfo"].get("revision"))

    def update(self, ctx: Ctx, want: DeploymentGroup, live: Live, diffs: list[Diff]) -> Live | None:
        if any(d.field != TASK_DEFINITION for d in diffs):
            params = desired_group(ctx, want)
            app = str(live.outputs.get("application") or want.application.name)
            _role_lag(
                ctx,
                lambda: ctx.client("codedeploy").update_deployment_group(
                    applicationName=app, currentDeploymentGroupName=live.physical_id, **params
                ),
            )
        if any(d.field == TASK_DEFINITION for d in diffs):
            return self._deploy(ctx, want, live)
        return None

    def _deploy(self, ctx: Ctx, want: DeploymentGroup, live: Live) -> Live | None:
        """Start a deployment when the service runs another revision than `up` registered; with
        one in flight, follow it (AWS allows one per group: DeploymentLimitExceededException).
        Returns `live` with the deployment to follow in its outputs, or None: nothing to follow."""
        taskdef = ctx.arn_of(want.taskdef)
        current = service_task_definition(ctx, want.cluster_name, service_name(ctx, want))
        if current is None or current == taskdef:
            return None
        cd = ctx.client("codedeploy")
        app = str(live.outputs.get("application") or want.application.name)
        deployment = active_deployment(ctx, app, live.physical_id)
        if deployment is not None:
            ctx.log(f"codedeploy: following deployment {deployment} already in flight")
        else:
            try:
                deployment = str(
                    cd.create_deployment(
                        applicationName=app,
                        deploymentGroupName=live.physical_id,
                        revision={
                            "revisionType": "AppSpecContent",
                            "appSpecContent": {"content": want.appspec(taskdef)},
                        },
                        description=f"ecs_cicd up: {taskdef}"[:1000],
                    )["deploymentId"]
                )
            except ClientError as e:
                raise aws_error("Starting", f"a CodeDeploy deployment of {taskdef}", e) from None
            ctx.log(f"codedeploy: deployment {deployment} of {taskdef} started")
        return Live(
            live.physical_id,
            live.arn,
            live.tags,
            live.data,
            {**live.outputs, "application": app, "deployment": deployment},
        )

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("codedeploy").tag_resource(ResourceArn=live.arn, Tags=tags_list(tags))

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        cd = ctx.client("codedeploy")
        app = _recorded_app(ctx, rec)
        # The service goes next: stop a deployment in flight rather than leave it shifting
        # traffic between task sets of a service being deleted.
        active = active_deployment(ctx, app, rec.physical_id)
        if active is not None:
            try:
                cd.stop_deployment(deploymentId=active, autoRollbackEnabled=False)
            except ClientError as e:
                if error_code(e) not in (
                    "DeploymentAlreadyCompletedException",
                    "DeploymentDoesNotExistException",
                ):
                    raise
        cd.delete_deployment_group(applicationName=app, deploymentGroupName=rec.physical_id)

    def summary(self, want: DeploymentGroup) -> list[str]:
        out = [want.deployment_config, f"prod traffic via {want.production_listener.logical_id}"]
        if want.test_listener is not None:
            out.append(f"test traffic via {want.test_listener.logical_id}")
        return out

    def notes(self, want: DeploymentGroup, diffs: list[Diff]) -> list[str]:
        return [
            f"starts a CodeDeploy deployment of {d.want}"
            for d in diffs
            if d.field == TASK_DEFINITION and not d.note
        ]


def _recorded_app(ctx: Ctx, rec: Record) -> str:
    # The application and the group are both named after the stack (names.py).
    return str(rec.outputs.get("application") or ctx.stack)


# --- waiting -----------------------------------------------------------------------------------
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


def deployment_deadline(group: DeploymentGroup, service_wait: float) -> float:
    """`service_wait` (waits.service) plus the time the blue/green settings spend waiting on
    purpose (traffic shift steps, the ready wait, the termination wait), so they never time
    out."""
    return float(service_wait + 60 * group.wait_minutes)


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


def wait_for_deployment(ctx: Ctx, deployment_id: str, *, deadline: float) -> dict[str, Any]:
    """Until the CodeDeploy deployment Succeeded; Failed or Stopped fails at once."""
    cd = ctx.client("codedeploy")
    last = {"summary": ""}

    def check() -> dict[str, Any] | None:
        info: dict[str, Any] = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = info.get("status")
        traffic = traffic_summary(ctx, deployment_id) if status in ("InProgress", "Ready") else ""
        summary = deployment_summary(info, traffic)
        if summary != last["summary"]:
            ctx.status("codedeploy", f"deployment {deployment_id} {summary}")
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
        deadline=deadline,
        last_seen=lambda: last["summary"],
        key="codedeploy",
    )


def wait_for_service_running(ctx: Ctx, cluster: str, service: str, *, deadline: float) -> None:
    """No deployment to follow: the CODE_DEPLOY service runs its desired count. (Its
    `deployments` are empty, so botocore's services_stable would never succeed.)"""
    ecs = ctx.client("ecs")
    last = {"summary": ""}

    def check() -> bool | None:
        items = ecs.describe_services(cluster=cluster, services=[service])
        svc = next(iter(items.get("services", [])), None)
        if svc is None:
            return None  # MISSING right after CreateService: not yet
        running, desired = svc.get("runningCount", 0), svc.get("desiredCount", 0)
        summary = f"{svc.get('status')}, running {running}/{desired}"
        if summary != last["summary"]:
            ctx.status("service", summary)
            last["summary"] = summary
        return True if svc.get("status") == "ACTIVE" and running == desired else None

    poll(
        ctx,
        f"ECS service {service} to run its desired count",
        check,
        deadline=deadline,
        last_seen=lambda: last["summary"],
        key="service",
    )


def wait_for_deployment_group(
    ctx: Ctx, group: DeploymentGroup, *, service_wait: float | None = None
) -> dict[str, Any] | None:
    """The blue/green wait at the end of `up`: follow the deployment this run started (recorded
    in the group's outputs) or one still in flight on the group to Succeeded and return its
    info; with none, wait until the service runs its desired count and return None.

    `group` is the stack's desired deployment group (`stack.get("codedeploy.group")`);
    `service_wait` is waits.service in seconds (default: `ctx.deadline("service")`); the
    deployment's deadline adds the minutes the blue/green settings wait on purpose."""
    if service_wait is None:
        service_wait = ctx.deadline("service")
    rec = ctx.state.get(group.logical_id)
    deployment: str | None = None
    if rec is not None:
        deployment = rec.outputs.get("deployment")
        if not deployment:
            deployment = active_deployment(ctx, _recorded_app(ctx, rec), rec.physical_id)
    if deployment:
        return wait_for_deployment(
            ctx, deployment, deadline=deployment_deadline(group, service_wait)
        )
    svc = ctx.state.get(group.service.logical_id)
    if svc is None:
        return None
    cluster = str(svc.outputs.get("cluster") or group.cluster_name)
    wait_for_service_running(ctx, cluster, svc.physical_id, deadline=float(service_wait))
    return None


KINDS = (ApplicationKind(), DeploymentGroupKind())
