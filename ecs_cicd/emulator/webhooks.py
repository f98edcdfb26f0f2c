"""CodePipeline webhooks (GitHub v1), which moto lacks.

PutWebhook (create or update, keeping the URL), ListWebhooks, DeleteWebhook (an unknown name
succeeds, as on AWS), RegisterWebhookWithThirdParty / DeregisterWebhookWithThirdParty (which
only mark the webhook; ``_registered`` in ``webhook_records``), and Tag/Untag/ListTagsForResource
on webhook ARNs. Stored per account and region on moto's CodePipeline backend. As AWS documents,
the secret token is redacted in every response.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from moto.codepipeline.models import CodePipelineBackend
from moto.codepipeline.responses import CodePipelineResponse

from ecs_cicd.emulator._util import add, dumps, page, replace, state
from ecs_cicd.emulator.codepipeline import MASK, CodePipelineError, require_pipeline


def _webhooks(backend: CodePipelineBackend) -> dict[str, dict[str, Any]]:
    return state(backend, "webhooks", dict)


def _validate_webhook(backend: CodePipelineBackend, definition: dict[str, Any]) -> None:
    require_pipeline(backend, definition["targetPipeline"])
    auth = definition.get("authentication")
    config = definition.get("authenticationConfiguration") or {}
    if auth == "GITHUB_HMAC" and not config.get("SecretToken"):
        raise CodePipelineError(
            "InvalidWebhookAuthenticationParametersException",
            "SecretToken is required for GITHUB_HMAC authentication",
        )
    if auth == "IP" and not config.get("AllowedIPRange"):
        raise CodePipelineError(
            "InvalidWebhookAuthenticationParametersException",
            "AllowedIPRange is required for IP authentication",
        )
    for rule in definition.get("filters", []):
        if not str(rule.get("jsonPath", "")).startswith("$"):
            raise CodePipelineError(
                "InvalidWebhookFilterPatternException",
                f"Invalid JsonPath: {rule.get('jsonPath')}",
            )


def _webhook_item(record: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy({k: v for k, v in record.items() if not k.startswith("_")})
    config = item["definition"].get("authenticationConfiguration") or {}
    if "SecretToken" in config:
        config["SecretToken"] = MASK
    return item


def webhook_records(backend: CodePipelineBackend) -> dict[str, dict[str, Any]]:
    """Stored webhooks by name, including ``_registered`` (for tests and the tagging API)."""
    return _webhooks(backend)


def _list_tags_for_resource(original: Any) -> Any:
    def list_tags_for_resource(self: CodePipelineResponse) -> Any:
        record = _webhook_for(self)
        if record is None:
            return original(self)
        return dumps({"tags": record.get("tags", [])})

    return list_tags_for_resource


def _webhook_for(self: CodePipelineResponse) -> dict[str, Any] | None:
    """The stored webhook when the request's resourceArn names one (else None: a pipeline)."""
    arn = str(self._get_param("resourceArn"))
    if ":webhook:" not in arn:
        return None
    record = _webhooks(self.codepipeline_backend).get(arn.split(":webhook:")[-1])
    if record is None:
        raise CodePipelineError("ResourceNotFoundException", f"Webhook {arn} not found")
    return record


def _tag_resource(original: Any) -> Any:
    def tag_resource(self: CodePipelineResponse) -> Any:
        record = _webhook_for(self)
        if record is None:
            return original(self)
        merged = {t["key"]: t["value"] for t in record.get("tags", [])}
        merged.update({t["key"]: t["value"] for t in self._get_param("tags") or []})
        record["tags"] = [{"key": k, "value": v} for k, v in merged.items()]
        return "{}"

    return tag_resource


def _untag_resource(original: Any) -> Any:
    def untag_resource(self: CodePipelineResponse) -> Any:
        record = _webhook_for(self)
        if record is None:
            return original(self)
        gone = set(self._get_param("tagKeys") or [])
        record["tags"] = [t for t in record.get("tags", []) if t["key"] not in gone]
        return "{}"

    return untag_resource


def put_webhook(self: CodePipelineResponse) -> str:
    backend = self.codepipeline_backend
    definition = self._get_param("webhook")
    _validate_webhook(backend, definition)
    hooks = _webhooks(backend)
    name = definition["name"]
    previous = hooks.get(name)
    record: dict[str, Any] = {
        "definition": definition,
        "url": previous["url"]
        if previous
        else f"https://{backend.region_name}.webhooks.aws/trigger?t={uuid.uuid4().hex}&v=1",
        "arn": f"arn:aws:codepipeline:{backend.region_name}:{backend.account_id}:webhook:{name}",
        "tags": self._get_param("tags") or (previous or {}).get("tags", []),
        "_registered": bool(previous and previous["_registered"]),
    }
    hooks[name] = record
    return dumps({"webhook": _webhook_item(record)})


def list_webhooks(self: CodePipelineResponse) -> str:
    items = [_webhook_item(r) for r in _webhooks(self.codepipeline_backend).values()]
    chunk, token = page(items, self._get_param("NextToken"), self._get_param("MaxResults"))
    out: dict[str, Any] = {"webhooks": chunk}
    if token:
        out["NextToken"] = token
    return dumps(out)


def delete_webhook(self: CodePipelineResponse) -> str:
    # AWS answers success for a name it does not know.
    _webhooks(self.codepipeline_backend).pop(self._get_param("name"), None)
    return "{}"


def _set_registered(self: CodePipelineResponse, registered: bool) -> str:
    name = self._get_param("webhookName")
    record = _webhooks(self.codepipeline_backend).get(name)
    if record is None:
        raise CodePipelineError(
            "WebhookNotFoundException",
            "The specified webhook was entered in an invalid format or cannot be found.",
        )
    record["_registered"] = registered
    return "{}"


def register_webhook_with_third_party(self: CodePipelineResponse) -> str:
    return _set_registered(self, True)


def deregister_webhook_with_third_party(self: CodePipelineResponse) -> str:
    return _set_registered(self, False)


def apply() -> None:
    replace(CodePipelineResponse, "list_tags_for_resource", _list_tags_for_resource)
    replace(CodePipelineResponse, "tag_resource", _tag_resource)
    replace(CodePipelineResponse, "untag_resource", _untag_resource)
    for fn in (
        put_webhook,
        list_webhooks,
        delete_webhook,
        register_webhook_with_third_party,
        deregister_webhook_with_third_party,
    ):
        add(CodePipelineResponse, fn.__name__, fn)
