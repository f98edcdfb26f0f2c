"""The pipeline (Source -> Build -> Deploy) and, for GitHub (OAuth, v1) sources, its webhook.

The GitHub token and the webhook's HMAC secret are secrets: they go to AWS in the request and
nowhere else — not into the state file, an Outcome, an error message or a log line (botocore's
DEBUG request logging included: see `redacted`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ecs_cicd import names
from ecs_cicd.aws import aws_error, error_code, is_not_found, retry_on, tags_list
from ecs_cicd.config import CodeCommitSource, Config, ConnectionSource, GitHubSource, S3Source
from ecs_cicd.engine import Action, Ctx, Outcome, Spec
from ecs_cicd.errors import ConfigError, EcsCicdError
from ecs_cicd.render.deploy import APPSPEC_FILE, IMAGE1_PLACEHOLDER, TASKDEF_FILE
from ecs_cicd.state import Record

# A new service role is not yet assumable by CodePipeline for up to ~2 minutes (AWS-BEHAVIOUR.md).
ROLE_PROPAGATION = 120
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


# --- the declaration (pure) ------------------------------------------------------------------
def _action(
    name: str,
    category: str,
    owner: str,
    provider: str,
    configuration: dict[str, str],
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

    With oauth_token None a GitHub action has no OAuthToken key (for comparing and planning).
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


def deploy_action(cfg: Config) -> dict[str, Any]:
    """ECS rolling, or CodeDeploy blue/green reading the files render/deploy.py names."""
    deploy = cfg.pipeline.deploy
    if deploy.strategy == "blue_green":
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
    conf = {
        "ClusterName": names.cluster(cfg),
        "ServiceName": names.service(cfg),
        "FileName": deploy.file_name,
        "DeploymentTimeout": str(deploy.timeout_minutes),
    }
    return _action(DEPLOY_ACTION, "Deploy", "AWS", "ECS", conf, inputs=(BUILD_OUTPUT,))


def pipeline_declaration(
    cfg: Config, *, bucket: str, role_arn: str, oauth_token: str | None
) -> dict[str, Any]:
    """The CreatePipeline / UpdatePipeline `pipeline` structure. Pure."""
    build = _action(
        BUILD_ACTION,
        "Build",
        "AWS",
        "CodeBuild",
        {"ProjectName": names.codebuild_project(cfg)},
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
            {"name": DEPLOY_STAGE, "actions": [deploy_action(cfg)]},
        ],
    }


def _public_configuration(conf: dict[str, Any] | None) -> dict[str, Any]:
    """An action configuration without its secret keys (GetPipeline masks them anyway)."""
    return {k: v for k, v in (conf or {}).items() if k not in SECRET_KEYS}


def declaration_differences(desired: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs between the declaration we want and the one AWS has, ignoring secret keys
    (returned masked) and the fields AWS adds. Never names a secret value."""
    out = []
    if actual.get("roleArn") != desired["roleArn"]:
        out.append(f"roleArn: {actual.get('roleArn')!r} -> {desired['roleArn']!r}")
    store = actual.get("artifactStore") or {}
    for key, want in desired["artifactStore"].items():
        if store.get(key) != want:
            out.append(f"artifactStore.{key}: {store.get(key)!r} -> {want!r}")
    # AWS's default when a pipeline was created without pipelineType is V1.
    if actual.get("pipelineType", "V1") != desired["pipelineType"]:
        out.append(f"pipelineType: {actual.get('pipelineType', 'V1')} -> {desired['pipelineType']}")
    want_stages = [s["name"] for s in desired["stages"]]
    have_stages = [s.get("name") for s in actual.get("stages", [])]
    if want_stages != have_stages:
        return [*out, f"stages: {have_stages} -> {want_stages}"]
    for want_stage, have_stage in zip(desired["stages"], actual["stages"], strict=True):
        want_actions = [a["name"] for a in want_stage["actions"]]
        have_actions = [a.get("name") for a in have_stage.get("actions", [])]
        if want_actions != have_actions:
            out.append(f"stage {want_stage['name']} actions: {have_actions} -> {want_actions}")
            continue
        for want, have in zip(want_stage["actions"], have_stage["actions"], strict=True):
            where = f"{want_stage['name']}/{want['name']}"
            for key in ("actionTypeId", "runOrder", "inputArtifacts", "outputArtifacts"):
                current = have.get(key, _ACTION_DEFAULTS.get(key))
                if current != want[key]:
                    out.append(f"{where} {key}: {current!r} -> {want[key]!r}")
            want_conf = _public_configuration(want["configuration"])
            have_conf = _public_configuration(have.get("configuration"))
            for key in sorted(want_conf.keys() | have_conf.keys()):
                if want_conf.get(key) != have_conf.get(key):
                    out.append(f"{where} {key}: {have_conf.get(key)!r} -> {want_conf.get(key)!r}")
    return out


def oauth_token(cfg: Config) -> str | None:
    """The GitHub token from the environment (GitHub sources only). Its value is never logged."""
    src = cfg.pipeline.source
    if not isinstance(src, GitHubSource):
        return None
    value = os.environ.get(src.token_env)
    if not value:
        raise ConfigError(
            f"the GitHub token variable {src.token_env} is not set",
            field="pipeline.source.token_env",
            hint=f"export {src.token_env}=<a token with repo and admin:repo_hook scopes>",
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
def get_pipeline(ctx: Ctx, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        resp = ctx.client("codepipeline").get_pipeline(name=name)
    except ClientError as e:
        if is_not_found(e):
            return None
        raise aws_error("Reading", f"pipeline {name}", e) from None
    return dict(resp["pipeline"]), dict(resp.get("metadata", {}))


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


class PipelineHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        cfg = ctx.cfg
        name = names.pipeline(cfg)
        bucket = str(ctx.out("bucket.artifacts"))
        role = str(ctx.out("role.codepipeline", "arn"))
        rec = ctx.state.get(spec.logical_id)
        found = get_pipeline(ctx, rec.physical_id) if rec else None
        if found is None and (rec is None or rec.physical_id != name):
            found = get_pipeline(ctx, name)
        plain = pipeline_declaration(cfg, bucket=bucket, role_arn=role, oauth_token=None)
        action: Action
        if found is None:
            if ctx.dry_run:
                return Outcome(spec.logical_id, spec.kind, "create", _summary(cfg), name)
            created = self._create(ctx, spec, bucket, role)
            if created is not None:
                arn = ctx.arn("codepipeline", name)
                ctx.record(
                    Record(spec.logical_id, spec.kind, name, arn=arn, outputs={"created": created})
                )
                # AWS starts the first execution by itself; we do not start another.
                return Outcome(spec.logical_id, spec.kind, "create", [], name)
            # Created between our lookup and CreatePipeline: adopt it, never a second one.
            found = get_pipeline(ctx, name)
            if found is None:
                raise EcsCicdError(
                    f"pipeline {name}: AWS says the name is in use but cannot read it"
                )
            action = "adopt"
        else:
            action = "adopt" if rec is None else "unchanged"
        pipeline, metadata = found
        created_at = (rec.outputs.get("created") if rec else None) or _iso(
            metadata.get("created", "")
        )
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                name,
                arn=str(metadata.get("pipelineArn") or ctx.arn("codepipeline", name)),
                outputs={"created": created_at} if created_at else {},
            )
        )
        changes = declaration_differences(plain, pipeline)
        if changes and not ctx.dry_run:
            token = oauth_token(cfg)
            # The whole declaration goes back, with the real token where GetPipeline masked it.
            desired = pipeline_declaration(cfg, bucket=bucket, role_arn=role, oauth_token=token)
            desired["version"] = pipeline.get("version", 1)
            try:
                with redacted(token):
                    ctx.client("codepipeline").update_pipeline(pipeline=desired)
            except ClientError as e:
                raise aws_error("Updating", f"pipeline {name}", e) from None
        if changes and action == "unchanged":
            action = "update"
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def _create(self, ctx: Ctx, spec: Spec, bucket: str, role: str) -> str | None:
        """Create the pipeline; the ISO time of creation, or None if it already existed."""
        cfg = ctx.cfg
        name = names.pipeline(cfg)
        token = oauth_token(cfg)
        declaration = pipeline_declaration(cfg, bucket=bucket, role_arn=role, oauth_token=token)
        codepipeline = ctx.client("codepipeline")
        try:
            with redacted(token):
                # "not authorized to perform AssumeRole": the new role has not propagated; any
                # other InvalidStructureException (bad bucket, bad action config) fails at once.
                retry_on(
                    lambda: codepipeline.create_pipeline(
                        pipeline=declaration,
                        tags=tags_list(ctx.tags(spec.logical_id), "key", "value"),
                    ),
                    codes=("InvalidStructureException",),
                    fragment="not authorized to perform AssumeRole",
                    deadline=ROLE_PROPAGATION,
                    sleep=ctx.sleep,
                )
        except ClientError as e:
            if error_code(e) == "PipelineNameInUseException":
                return None
            raise aws_error("Creating", f"pipeline {name}", e) from None
        return datetime.now(UTC).isoformat(timespec="seconds")

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        name = record.physical_id
        if get_pipeline(ctx, name) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], name)
        try:
            ctx.client("codepipeline").delete_pipeline(name=name)
        except ClientError as e:
            if is_not_found(e):
                return Outcome(record.logical_id, record.kind, "gone", [], name)
            raise aws_error("Deleting", f"pipeline {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", [], name)


def _summary(cfg: Config) -> list[str]:
    src = cfg.pipeline.source
    where = {
        "github": lambda: f"{getattr(src, 'owner', '')}/{getattr(src, 'repo', '')}",
        "codestar": lambda: str(getattr(src, "repository", "")),
        "codecommit": lambda: str(getattr(src, "repository", "")),
        "s3": lambda: f"s3://{getattr(src, 'bucket', '')}/{getattr(src, 'key', '')}",
    }[src.type]()
    return [f"source {src.type} {where}", f"deploy {cfg.pipeline.deploy.strategy}"]


# --- GitHub (v1) webhook ---------------------------------------------------------------------
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


def find_webhook(ctx: Ctx, name: str) -> dict[str, Any] | None:
    try:
        for page in ctx.client("codepipeline").get_paginator("list_webhooks").paginate():
            for item in page.get("webhooks", []):
                if item.get("definition", {}).get("name") == name:
                    return dict(item)
    except ClientError as e:
        raise aws_error("Listing", "CodePipeline webhooks", e) from None
    return None


def _webhook_differences(desired: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    return [
        f"{key}: {actual.get(key)!r} -> {desired[key]!r}"
        for key in ("targetPipeline", "targetAction", "filters", "authentication")
        if actual.get(key) != desired[key]
    ]


# Set on the webhook once GitHub has it, so a lost state file (or `state recover`) still knows.
REGISTERED_TAG = "ecs-cicd:registered"


class WebhookHandler:
    def ensure(self, ctx: Ctx, spec: Spec) -> Outcome:
        cfg = ctx.cfg
        name = names.webhook(cfg)
        desired = webhook_definition(cfg, str(ctx.out("pipeline")))
        rec = ctx.state.get(spec.logical_id)
        current = find_webhook(ctx, rec.physical_id if rec else name)
        if current is None and rec is not None and rec.physical_id != name:
            current = find_webhook(ctx, name)
        action: Action
        if current is None:
            if ctx.dry_run:
                return Outcome(spec.logical_id, spec.kind, "create", ["register with GitHub"], name)
            item = self._put(ctx, spec, desired)
            self._record(ctx, spec, item, registered=False)
            self._register(ctx, name)
            self._record(ctx, spec, item, registered=True)
            return Outcome(spec.logical_id, spec.kind, "create", [], name)
        action = "adopt" if rec is None else "unchanged"
        changes = _webhook_differences(desired, current.get("definition", {}))
        # Without our record, the registration tag tells whether GitHub was given the hook (a
        # crash between PutWebhook and RegisterWebhookWithThirdParty leaves it untagged).
        registered = bool(rec.outputs.get("registered")) if rec else self._tagged_registered(ctx, current)
        if rec is None:
            self._record(ctx, spec, current, registered=registered)
        if not changes and registered:
            self._record(ctx, spec, current, registered=True)
            return Outcome(spec.logical_id, spec.kind, action, [], name)
        redefine = bool(changes)
        if redefine:
            # A new definition goes with a new secret, so GitHub must be given it again.
            changes.append("new secret, registered again with GitHub")
        else:
            changes.append("register with GitHub")
        if action == "unchanged":
            action = "update"
        if ctx.dry_run:
            return Outcome(spec.logical_id, spec.kind, action, changes, name)
        item = self._put(ctx, spec, desired) if redefine else current
        self._record(ctx, spec, item, registered=False)
        # Deregister first, so GitHub is left with one hook for this webhook, not two.
        self._deregister(ctx, name)
        self._register(ctx, name)
        self._record(ctx, spec, item, registered=True)
        return Outcome(spec.logical_id, spec.kind, action, changes, name)

    def _put(self, ctx: Ctx, spec: Spec, desired: dict[str, Any]) -> dict[str, Any]:
        # A fresh secret for each definition; held only for this call, never logged or stored.
        secret = secrets.token_hex(32)
        webhook = {**desired, "authenticationConfiguration": {"SecretToken": secret}}
        try:
            with redacted(secret):
                resp = ctx.client("codepipeline").put_webhook(
                    webhook=webhook, tags=tags_list(ctx.tags(spec.logical_id), "key", "value")
                )
        except ClientError as e:
            raise aws_error("Creating", f"webhook {desired['name']}", e) from None
        return dict(resp["webhook"])

    def _record(self, ctx: Ctx, spec: Spec, item: dict[str, Any], *, registered: bool) -> None:
        name = str(item.get("definition", {}).get("name") or names.webhook(ctx.cfg))
        ctx.record(
            Record(
                spec.logical_id,
                spec.kind,
                name,
                arn=item.get("arn"),
                outputs={"url": item.get("url"), "registered": registered},
            )
        )

    def _register(self, ctx: Ctx, name: str) -> None:
        cp = ctx.client("codepipeline")
        try:
            cp.register_webhook_with_third_party(webhookName=name)
            arn = (find_webhook(ctx, name) or {}).get("arn")
            if arn:
                cp.tag_resource(resourceArn=arn, tags=[{"key": REGISTERED_TAG, "value": "true"}])
        except ClientError as e:
            raise aws_error(
                "Registering",
                f"webhook {name} with GitHub",
                e,
                hint="the token needs the admin:repo_hook scope on the repository",
            ) from None

    def _tagged_registered(self, ctx: Ctx, item: dict[str, Any]) -> bool:
        arn = item.get("arn")
        if not arn:
            return False
        try:
            tags = ctx.client("codepipeline").list_tags_for_resource(resourceArn=arn).get("tags", [])
        except ClientError as e:
            if is_not_found(e):
                return False
            raise
        return any(t.get("key") == REGISTERED_TAG and t.get("value") == "true" for t in tags)

    def _deregister(self, ctx: Ctx, name: str) -> str | None:
        """Remove GitHub's hook; None when done (or nothing was registered), else AWS's error."""
        try:
            ctx.client("codepipeline").deregister_webhook_with_third_party(webhookName=name)
        except ClientError as e:
            if is_not_found(e):
                return None
            return f"{error_code(e)}: {e.response.get('Error', {}).get('Message', '')}".strip()
        return None

    def delete(self, ctx: Ctx, record: Record) -> Outcome:
        """Deregister from GitHub, then delete the webhook. The pipeline is deleted after this
        (the webhook depends on it), since deleting a pipeline leaves its webhook registered."""
        name = record.physical_id
        if find_webhook(ctx, name) is None:
            return Outcome(record.logical_id, record.kind, "gone", [], name)
        changes = []
        failure = self._deregister(ctx, name)
        if failure:
            # A revoked token must not block `down`; the hook left on GitHub only fails deliveries.
            note = f"GitHub hook not removed ({failure}); delete it in the repository's settings"
            ctx.log(f"webhook {name}: {note}")
            changes.append(note)
        try:
            ctx.client("codepipeline").delete_webhook(name=name)
        except ClientError as e:
            if not is_not_found(e):
                raise aws_error("Deleting", f"webhook {name}", e) from None
        return Outcome(record.logical_id, record.kind, "delete", changes, name)
