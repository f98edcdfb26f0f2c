"""The pipeline (Source -> Build -> Deploy) and, for GitHub (OAuth, v1) sources, its webhook.

The GitHub token and the webhook's HMAC secret are secrets: they go to AWS in the request and
nowhere else — not into the desired model, the state file, an Outcome, an error message or a log
line (botocore's DEBUG request logging included: see `redacted`). The model holds only the NAME
of the variable with the token (`token_env`); `create` and `update` read it when they call AWS.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import (
    aws_error,
    error_code,
    error_message,
    is_not_found,
    retry_on,
    tags_dict,
    tags_list,
)
from ecs_cicd.config import CodeCommitSource, Config, ConnectionSource, GitHubSource, S3Source
from ecs_cicd.errors import ConfigError
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource, tags_of
from ecs_cicd.names import STACK_TAG
from ecs_cicd.render.deploy import APPSPEC_FILE, IMAGE1_PLACEHOLDER, TASKDEF_FILE
from ecs_cicd.resources.codebuild import Project, Ref, resolve
from ecs_cicd.state import Record

# A new service role is not yet assumable by CodePipeline for up to ~2 minutes (AWS-BEHAVIOUR.md).
ROLE_PROPAGATION = 120
ROLE_LAG_FRAGMENT = "not authorized to perform AssumeRole"
MASK = "****"
SECRET_KEYS = ("OAuthToken",)

SOURCE_STAGE = SOURCE_ACTION = "Source"
BUILD_STAGE = BUILD_ACTION = "Build"
DEPLOY_STAGE = DEPLOY_ACTION = "Deploy"
SOURCE_OUTPUT = "SourceOutput"
BUILD_OUTPUT = "BuildOutput"

# V1, not V2. V1 costs $1 per active pipeline-month (nothing in its first 30 days or in a month
# without a new change); V2 costs $0.002 per action-execution minute after 100 free minutes a
# month per account, and the deploy action's minutes include waiting for the service to
# stabilise. So V2 is cheaper only while a stack sees few runs a month (roughly under 40 runs of
# ~15 action-minutes each); V1's cost is flat and bounded. Nothing here needs a V2 feature (git
# tag/branch triggers, pipeline variables, QUEUED/PARALLEL execution modes, stage conditions).
PIPELINE_TYPE = "V1"

_ACTION_DEFAULTS: dict[str, Any] = {"runOrder": 1, "inputArtifacts": [], "outputArtifacts": []}

# What `plan` says of a new pipeline: `up` waits for this execution (ops._wait_all).
CREATE_NOTE = (
    "AWS starts one execution when it creates the pipeline (a build and a deployment of the "
    "source's latest commit); up waits for it"
)
UPDATE_NOTE = "UpdatePipeline starts no execution: the change applies from the next run"


# --- the declaration (pure) ------------------------------------------------------------------
def _action(
    name: str,
    category: str,
    owner: str,
    provider: str,
    configuration: dict[str, Any],
    *,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {
            "category": category,
            "owner": owner,
            "provider": provider,
            "version": "1",
        },
        "runOrder": 1,
        "configuration": configuration,
        "inputArtifacts": [{"name": n} for n in inputs],
        "outputArtifacts": [{"name": n} for n in outputs],
    }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def source_action(cfg: Config, oauth_token: str | None) -> dict[str, Any]:
    """The Source action for the configured source type; keys as FORMATS.md lists them.

    With oauth_token None a GitHub action has no OAuthToken key (the model, comparing, planning).
    """
    src = cfg.pipeline.source
    out = (SOURCE_OUTPUT,)
    if isinstance(src, GitHubSource):
        conf = {"Owner": src.owner, "Repo": src.repo, "Branch": src.branch}
        if oauth_token is not None:
            conf["OAuthToken"] = oauth_token
        # With a webhook, polling too would run every push twice.
        conf["PollForSourceChanges"] = _flag(not src.webhook)
        return _action(SOURCE_ACTION, "Source", "ThirdParty", "GitHub", conf, outputs=out)
    if isinstance(src, ConnectionSource):
        conf = {
            "ConnectionArn": src.connection_arn,
            "FullRepositoryId": src.repository,
            "BranchName": src.branch,
            "OutputArtifactFormat": src.output_format,
            "DetectChanges": _flag(src.detect_changes),
        }
        return _action(
            SOURCE_ACTION, "Source", "AWS", "CodeStarSourceConnection", conf, outputs=out
        )
    # CodeCommit and S3 detect changes by polling: we create no EventBridge rule for them.
    if isinstance(src, CodeCommitSource):
        conf = {
            "RepositoryName": src.repository,
            "BranchName": src.branch,
            "PollForSourceChanges": "true",
        }
        return _action(SOURCE_ACTION, "Source", "AWS", "CodeCommit", conf, outputs=out)
    assert isinstance(src, S3Source)
    conf = {"S3Bucket": src.bucket, "S3ObjectKey": src.key, "PollForSourceChanges": "true"}
    return _action(SOURCE_ACTION, "Source", "AWS", "S3", conf, outputs=out)


def deploy_action(cfg: Config, deploy_target: Resource | None = None) -> dict[str, Any]:
    """ECS rolling, or CodeDeploy blue/green reading the files render/deploy.py names.

    CodeDeploy when `deploy_target` is the deployment group (the config's strategy without it)."""
    deploy = cfg.pipeline.deploy
    codedeploy = (
        deploy.strategy == "blue_green"
        if deploy_target is None
        else deploy_target.kind == "deployment_group"
    )
    if codedeploy:
        conf = {
            "ApplicationName": names.codedeploy_app(cfg),
            "DeploymentGroupName": names.deployment_group(cfg),
            "TaskDefinitionTemplateArtifact": BUILD_OUTPUT,
            "TaskDefinitionTemplatePath": TASKDEF_FILE,
            "AppSpecTemplateArtifact": BUILD_OUTPUT,
            "AppSpecTemplatePath": APPSPEC_FILE,
            "Image1ArtifactName": BUILD_OUTPUT,
            "Image1ContainerName": IMAGE1_PLACEHOLDER,
        }
        return _action(
            DEPLOY_ACTION, "Deploy", "AWS", "CodeDeployToECS", conf, inputs=(BUILD_OUTPUT,)
        )
    # The service's name as recorded: a strategy switch gives the new service the other name.
    service: Any = Ref(deploy_target, "id") if deploy_target is not None else names.service(cfg)
    conf = {
        "ClusterName": names.cluster(cfg),
        "ServiceName": service,
        "FileName": deploy.file_name,
        "DeploymentTimeout": str(deploy.timeout_minutes),
    }
    return _action(DEPLOY_ACTION, "Deploy", "AWS", "ECS", conf, inputs=(BUILD_OUTPUT,))


def pipeline_declaration(
    cfg: Config,
    *,
    bucket: Any,
    role_arn: Any,
    oauth_token: str | None,
    project_name: str | None = None,
    deploy_target: Resource | None = None,
) -> dict[str, Any]:
    """The CreatePipeline / UpdatePipeline `pipeline` structure. Pure. `bucket` and `role_arn`
    may be `Ref`s (the model), resolved when a verb runs."""
    build = _action(
        BUILD_ACTION,
        "Build",
        "AWS",
        "CodeBuild",
        {"ProjectName": project_name or names.codebuild_project(cfg)},
        inputs=(SOURCE_OUTPUT,),
        outputs=(BUILD_OUTPUT,),
    )
    return {
        "name": names.pipeline(cfg),
        "roleArn": role_arn,
        "artifactStore": {"type": "S3", "location": bucket},
        "pipelineType": PIPELINE_TYPE,
        "stages": [
            {"name": SOURCE_STAGE, "actions": [source_action(cfg, oauth_token)]},
            {"name": BUILD_STAGE, "actions": [build]},
            {"name": DEPLOY_STAGE, "actions": [deploy_action(cfg, deploy_target)]},
        ],
    }


def with_token(declaration: dict[str, Any], token: str | None) -> dict[str, Any]:
    """A copy of `declaration` with the GitHub source action's OAuthToken set (None: as is)."""
    if token is None:
        return declaration
    out = copy.deepcopy(declaration)
    for stage in out["stages"]:
        for action in stage["actions"]:
            if action["actionTypeId"]["provider"] == "GitHub":
                action["configuration"]["OAuthToken"] = token
    return out


def _public_configuration(conf: dict[str, Any] | None) -> dict[str, Any]:
    """An action configuration without its secret keys (GetPipeline masks them anyway)."""
    return {k: v for k, v in (conf or {}).items() if k not in SECRET_KEYS}


def declaration_differences(desired: dict[str, Any], actual: dict[str, Any]) -> list[Diff]:
    """What differs between the declaration we want and the one AWS has, ignoring secret keys
    (returned masked: not drift) and the fields AWS adds. Never names a secret value."""
    out = []
    if actual.get("roleArn") != desired["roleArn"]:
        out.append(Diff("roleArn", actual.get("roleArn"), desired["roleArn"]))
    store = actual.get("artifactStore") or {}
    for key, want in desired["artifactStore"].items():
        if store.get(key) != want:
            out.append(Diff(f"artifactStore.{key}", store.get(key), want))
    # AWS's default when a pipeline was created without pipelineType is V1.
    if actual.get("pipelineType", "V1") != desired["pipelineType"]:
        out.append(Diff("pipelineType", actual.get("pipelineType", "V1"), desired["pipelineType"]))
    want_stages = [s["name"] for s in desired["stages"]]
    have_stages = [s.get("name") for s in actual.get("stages", [])]
    if want_stages != have_stages:
        return [*out, Diff("stages", have_stages, want_stages)]
    for want_stage, have_stage in zip(desired["stages"], actual["stages"], strict=True):
        want_actions = [a["name"] for a in want_stage["actions"]]
        have_actions = [a.get("name") for a in have_stage.get("actions", [])]
        if want_actions != have_actions:
            out.append(Diff(f"stage {want_stage['name']} actions", have_actions, want_actions))
            continue
        for want, have in zip(want_stage["actions"], have_stage["actions"], strict=True):
            where = f"{want_stage['name']}/{want['name']}"
            for key in ("actionTypeId", "runOrder", "inputArtifacts", "outputArtifacts"):
                current = have.get(key, _ACTION_DEFAULTS.get(key))
                if current != want[key]:
                    out.append(Diff(f"{where} {key}", current, want[key]))
            want_conf = _public_configuration(want["configuration"])
            have_conf = _public_configuration(have.get("configuration"))
            for key in sorted(want_conf.keys() | have_conf.keys()):
                if want_conf.get(key) != have_conf.get(key):
                    out.append(Diff(f"{where} {key}", have_conf.get(key), want_conf.get(key)))
    return out


def oauth_token(token_env: str | None) -> str | None:
    """The GitHub token from the variable `token_env` (None: not a GitHub source), read at call
    time. Its value is never logged, stored or returned anywhere but to AWS's request."""
    if token_env is None:
        return None
    value = os.environ.get(token_env)
    if not value:
        raise ConfigError(
            f"the GitHub token variable {token_env} is not set",
            field="pipeline.source.token_env",
            hint=f"export {token_env}=<a token with repo and admin:repo_hook scopes>",
        )
    return value


# --- keeping secrets out of botocore's DEBUG logs --------------------------------------------
class _Redact(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, MASK), None
        return True


# botocore logs request params (with the body) and response bodies at DEBUG on these loggers.
_BOTOCORE_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.hooks", "botocore.auth")


@contextlib.contextmanager
def redacted(*values: str | None) -> Iterator[None]:
    """While the block runs, mask `values` in whatever botocore logs."""
    filters = [_Redact(v) for v in values if v]
    loggers = [logging.getLogger(n) for n in _BOTOCORE_LOGGERS]
    for lg in loggers:
        for f in filters:
            lg.addFilter(f)
    try:
        yield
    finally:
        for lg in loggers:
            for f in filters:
                lg.removeFilter(f)


# --- pipeline --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, kw_only=True)
class Pipeline(Resource):
    kind = "pipeline"
    name: str
    bucket: Resource
    project: Project
    role: Resource
    deploy_target: Resource  # the ECS service (rolling) or the CodeDeploy deployment group
    # CreatePipeline's `pipeline` without any secret: `Ref`s for the bucket name and role ARN.
    declaration: dict[str, Any]
    # GitHub sources: the NAME of the variable holding the OAuth token (never the token).
    token_env: str | None
    source: str  # "github owner/repo", for the plan


def _source_summary(cfg: Config) -> str:
    src = cfg.pipeline.source
    if isinstance(src, GitHubSource):
        where = f"{src.owner}/{src.repo}"
    elif isinstance(src, ConnectionSource | CodeCommitSource):
        where = src.repository
    else:
        assert isinstance(src, S3Source)
        where = f"s3://{src.bucket}/{src.key}"
    return f"{src.type} {where}"


def build_pipeline(
    cfg: Config,
    bucket: Resource,
    project: Project,
    role: Resource,
    deploy_target: Resource,
    tags: tuple[tuple[str, str], ...],
) -> Pipeline:
    src = cfg.pipeline.source
    return Pipeline(
        logical_id="pipeline",
        tags=tags,
        name=names.pipeline(cfg),
        bucket=bucket,
        project=project,
        role=role,
        deploy_target=deploy_target,
        declaration=pipeline_declaration(
            cfg,
            bucket=Ref(bucket, "id"),
            role_arn=Ref(role, "arn"),
            oauth_token=None,
            project_name=project.name,
            deploy_target=deploy_target,
        ),
        token_env=src.token_env if isinstance(src, GitHubSource) else None,
        source=_source_summary(cfg),
    )


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def _ours(live: Live | None, stack: str) -> bool:
    return live is not None and (live.tags or {}).get(STACK_TAG) == stack


class PipelineKind(Kind[Pipeline]):
    kind = "pipeline"
    label = "pipeline"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        cp = ctx.client("codepipeline")
        try:
            resp = cp.get_pipeline(name=name)
            metadata = dict(resp.get("metadata", {}))
            arn = str(metadata.get("pipelineArn") or ctx.target.arn("codepipeline", name))
            tags = tags_of(
                ctx,
                arn,
                lambda: tags_dict(
                    cp.list_tags_for_resource(resourceArn=arn).get("tags"), "key", "value"
                ),
            )
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        # When it was created: ours as recorded at creation, else AWS's.
        created = (rec.outputs.get("created") if rec else None) or _iso(metadata.get("created", ""))
        return Live(
            name,
            arn,
            tags,
            {"pipeline": dict(resp["pipeline"]), "metadata": metadata},
            {"created": created} if created else {},
        )

    def create(self, ctx: Ctx, want: Pipeline) -> Live:
        token = oauth_token(want.token_env)
        declaration = with_token(resolve(ctx, want.declaration), token)
        cp = ctx.client("codepipeline")
        with redacted(token):
            # "not authorized to perform AssumeRole": the new role has not propagated; any
            # other InvalidStructureException (bad bucket, bad action config) fails at once.
            retry_on(
                lambda: cp.create_pipeline(
                    pipeline=declaration, tags=tags_list(want.tag_dict, "key", "value")
                ),
                codes=("InvalidStructureException",),
                fragment=ROLE_LAG_FRAGMENT,
                deadline=ROLE_PROPAGATION,
                sleep=ctx.sleep,
            )
        created = datetime.now(UTC).isoformat(timespec="seconds")
        arn = ctx.target.arn("codepipeline", want.name)
        return Live(want.name, arn, want.tag_dict, None, {"created": created})

    def diff(self, ctx: Ctx, want: Pipeline, live: Live) -> list[Diff]:
        return declaration_differences(resolve(ctx, want.declaration), live.data["pipeline"])

    def update(self, ctx: Ctx, want: Pipeline, live: Live, diffs: list[Diff]) -> Live | None:
        token = oauth_token(want.token_env)
        # The whole declaration goes back, with the real token where GetPipeline masked it.
        declaration = with_token(resolve(ctx, want.declaration), token)
        declaration["version"] = live.data["pipeline"].get("version", 1)
        with redacted(token):
            ctx.client("codepipeline").update_pipeline(pipeline=declaration)
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("codepipeline").tag_resource(
            resourceArn=live.arn, tags=tags_list(tags, "key", "value")
        )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # The webhook (which depends on the pipeline) is deregistered and deleted before this:
        # deleting a pipeline leaves its webhook registered on GitHub (AWS-BEHAVIOUR.md).
        ctx.client("codepipeline").delete_pipeline(name=rec.physical_id)

    def summary(self, want: Pipeline) -> list[str]:
        deploy = want.declaration["stages"][-1]["actions"][0]["actionTypeId"]["provider"]
        strategy = "blue_green" if deploy == "CodeDeployToECS" else "rolling"
        return [f"source {want.source}", f"deploy {strategy}"]

    def notes(self, want: Pipeline, diffs: list[Diff]) -> list[str]:
        """A new pipeline (no diffs: what `create` does) runs once by itself; an update not."""
        return [UPDATE_NOTE] if diffs else [CREATE_NOTE]


def latest_execution(ctx: Ctx, name: str) -> dict[str, Any] | None:
    """The pipeline's latest execution (for `status`): id, status, start time; None if none."""
    try:
        execs = (
            ctx.client("codepipeline")
            .list_pipeline_executions(pipelineName=name, maxResults=1)
            .get("pipelineExecutionSummaries", [])
        )
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    if not execs:
        return None
    ex = execs[0]
    return {
        "execution": ex["pipelineExecutionId"],
        "status": ex["status"],
        "started": str(ex.get("startTime", "")),
    }


# --- GitHub (v1) webhook ---------------------------------------------------------------------
# Set on the webhook once GitHub has it, so a lost state file (or `state recover`) still knows;
# removed before anything that leaves GitHub without the current definition's hook.
REGISTERED_TAG = "ecs-cicd:registered"
DEFINITION_KEYS = ("targetPipeline", "targetAction", "filters", "authentication")
REGISTER = Diff("GitHub", note="register the webhook with GitHub")
NEW_SECRET = Diff("secret", note="new secret, registered again with GitHub")


def webhook_definition(cfg: Config, pipeline_name: str) -> dict[str, Any]:
    """The webhook's definition without its authenticationConfiguration (the secret)."""
    return {
        "name": names.webhook(cfg),
        "targetPipeline": pipeline_name,
        "targetAction": SOURCE_ACTION,
        # {Branch} is filled in by CodePipeline from the source action's configuration.
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"}],
        "authentication": "GITHUB_HMAC",
    }


@dataclass(frozen=True, eq=False, kw_only=True)
class Webhook(Resource):
    kind = "webhook"
    name: str
    pipeline: Pipeline
    definition: dict[str, Any]  # PutWebhook's `webhook` without authenticationConfiguration


def build_webhook(cfg: Config, pipeline: Pipeline, tags: tuple[tuple[str, str], ...]) -> Webhook:
    return Webhook(
        logical_id="webhook",
        tags=tags,
        name=names.webhook(cfg),
        pipeline=pipeline,
        definition=webhook_definition(cfg, pipeline.name),
    )


def _live_webhook(item: dict[str, Any], tags: dict[str, str]) -> Live:
    name = str(item.get("definition", {}).get("name"))
    registered = tags.get(REGISTERED_TAG) == "true"
    return Live(
        name, item.get("arn"), tags, item, {"url": item.get("url"), "registered": registered}
    )


class WebhookKind(Kind[Webhook]):
    kind = "webhook"
    label = "webhook"

    def lookup(self, ctx: Ctx, name: str, rec: Record | None) -> Live | None:
        cp = ctx.client("codepipeline")
        for page in cp.get_paginator("list_webhooks").paginate():
            for item in page.get("webhooks", []):
                if item.get("definition", {}).get("name") == name:
                    if "tags" in item:  # ListWebhooks carries them (ListWebhookItem.tags)
                        return _live_webhook(dict(item), tags_dict(item["tags"], "key", "value"))
                    try:
                        tags = cp.list_tags_for_resource(resourceArn=item["arn"]).get("tags", [])
                    except ClientError as e:
                        if is_not_found(e):
                            return None
                        raise
                    return _live_webhook(dict(item), tags_dict(tags, "key", "value"))
        return None

    def create(self, ctx: Ctx, want: Webhook) -> Live:
        return _live_webhook(self._put(ctx, want), want.tag_dict)

    def configure(self, ctx: Ctx, want: Webhook, live: Live) -> Live | None:
        """Give GitHub the hook (after the webhook is recorded: a crash between leaves it
        recorded and untagged, and the next `up` registers it)."""
        return self._register(ctx, live)

    def diff(self, ctx: Ctx, want: Webhook, live: Live) -> list[Diff]:
        have = live.data.get("definition", {})
        out = [
            Diff(key, have.get(key), want.definition[key])
            for key in DEFINITION_KEYS
            if have.get(key) != want.definition[key]
        ]
        if out:
            # A new definition goes with a new secret, so GitHub must be given it again.
            return [*out, NEW_SECRET]
        # Registration is recorded as a tag: without it (a crash between PutWebhook and
        # RegisterWebhookWithThirdParty), GitHub may not have the hook.
        return [] if live.outputs.get("registered") else [REGISTER]

    def update(self, ctx: Ctx, want: Webhook, live: Live, diffs: list[Diff]) -> Live | None:
        cp = ctx.client("codepipeline")
        redefine = any(d.field in DEFINITION_KEYS for d in diffs)
        if live.outputs.get("registered"):
            # Until GitHub has the new hook, the webhook is not registered.
            cp.untag_resource(resourceArn=live.arn, tagKeys=[REGISTERED_TAG])
        item = self._put(ctx, want) if redefine else live.data
        tags = {k: v for k, v in (live.tags or {}).items() if k != REGISTERED_TAG}
        # Deregister first, so GitHub is left with one hook for this webhook, not two.
        self._deregister(ctx, want.name)
        return self._register(ctx, _live_webhook(item, tags))

    def _put(self, ctx: Ctx, want: Webhook) -> dict[str, Any]:
        # A fresh secret for each definition; held only for this call, never logged or stored.
        secret = secrets.token_hex(32)
        webhook = {**want.definition, "authenticationConfiguration": {"SecretToken": secret}}
        with redacted(secret):
            resp = ctx.client("codepipeline").put_webhook(
                webhook=webhook, tags=tags_list(want.tag_dict, "key", "value")
            )
        return dict(resp["webhook"])

    def _register(self, ctx: Ctx, live: Live) -> Live:
        cp = ctx.client("codepipeline")
        try:
            cp.register_webhook_with_third_party(webhookName=live.physical_id)
            cp.tag_resource(resourceArn=live.arn, tags=[{"key": REGISTERED_TAG, "value": "true"}])
        except ClientError as e:
            raise aws_error(
                "Registering",
                f"webhook {live.physical_id} with GitHub",
                e,
                hint="the token needs the admin:repo_hook scope on the repository",
            ) from None
        return _live_webhook(live.data, {**(live.tags or {}), REGISTERED_TAG: "true"})

    def _deregister(self, ctx: Ctx, name: str) -> str | None:
        """Remove GitHub's hook; None when done (or nothing was registered), else AWS's error."""
        try:
            ctx.client("codepipeline").deregister_webhook_with_third_party(webhookName=name)
        except ClientError as e:
            if is_not_found(e):
                return None
            return f"{error_code(e)}: {error_message(e)}".strip()
        return None

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("codepipeline").tag_resource(
            resourceArn=live.arn, tags=tags_list(tags, "key", "value")
        )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        """Deregister from GitHub, then delete the webhook. The pipeline is deleted after this
        (the webhook depends on it), since deleting a pipeline leaves its webhook registered."""
        failure = self._deregister(ctx, rec.physical_id)
        if failure:
            # A revoked token must not block `down`; the hook left on GitHub only fails deliveries.
            ctx.log(
                f"webhook {rec.physical_id}: GitHub hook not removed ({failure}); "
                "delete it in the repository's settings"
            )
        ctx.client("codepipeline").delete_webhook(name=rec.physical_id)

    def summary(self, want: Webhook) -> list[str]:
        return ["register with GitHub"]


KINDS = (PipelineKind(), WebhookKind())
