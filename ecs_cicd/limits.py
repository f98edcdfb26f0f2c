"""AWS's rules that its service models do not state, from AWS's documentation (the source of each
is named beside it). Pure: each check returns the problems it found as messages, so config.py
can report every problem at once. The rules the botocore models do state (lengths, patterns,
enums, ranges) are checked by preflight.py against the requests the plan would send.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import unicodedata

import botocore.loaders

# --- tags ----------------------------------------------------------------------------------------
# "Tagging AWS resources" (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html), "Tag
# naming limits and requirements": key 1-128 and value 0-256 Unicode characters; letters, digits,
# spaces and `_ . : / = + - @`; the `aws:` prefix is reserved for AWS's use; at most 50 tags per
# resource (ecs_cicd adds two of its own, below).
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAGS_PER_RESOURCE = 50
OWN_TAG_PREFIX = "ecs-cicd:"  # ecs_cicd's own tags (names.STACK_TAG, names.ID_TAG)
OWN_TAGS = 2
_TAG_PUNCTUATION = set("_.:/=+-@")


def _tag_char_ok(ch: str) -> bool:
    # The tag pattern of the EC2/ELB models: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$
    return unicodedata.category(ch)[0] in "LZN" or ch in _TAG_PUNCTUATION


def tag_problems(tags: dict[str, str]) -> list[tuple[str, str, str]]:
    """(key, problem, fix) for each tag AWS would refuse."""
    out: list[tuple[str, str, str]] = []
    if len(tags) > TAGS_PER_RESOURCE - OWN_TAGS:
        out.append(
            (
                "",
                f"{len(tags)} tags; AWS allows {TAGS_PER_RESOURCE} per resource and ecs_cicd adds "
                f"{OWN_TAGS}",
                f"keep at most {TAGS_PER_RESOURCE - OWN_TAGS} tags",
            )
        )
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= TAG_KEY_MAX:
            out.append((str(key), f"a tag key has 1-{TAG_KEY_MAX} characters", "shorten the key"))
            continue
        if key.lower().startswith("aws:"):
            out.append((key, "the `aws:` prefix is reserved for AWS", "use another key"))
        if key.startswith(OWN_TAG_PREFIX):
            out.append((key, f"the `{OWN_TAG_PREFIX}` prefix is ecs_cicd's own", "use another key"))
        bad = sorted({c for c in key if not _tag_char_ok(c)})
        if bad:
            out.append((key, f"the key has characters AWS refuses: {bad!r}", TAG_CHARS_FIX))
        if not isinstance(value, str):
            out.append((key, "the value must be a string", 'quote it: "..."'))
            continue
        if len(value) > TAG_VALUE_MAX:
            out.append(
                (key, f"the value has {len(value)} characters; AWS allows {TAG_VALUE_MAX}", "")
            )
        bad = sorted({c for c in value if not _tag_char_ok(c)})
        if bad:
            out.append((key, f"the value has characters AWS refuses: {bad!r}", TAG_CHARS_FIX))
    return out


TAG_CHARS_FIX = "use letters, digits, spaces and _ . : / = + - @"

# --- S3 bucket names -------------------------------------------------------------------------
# "General purpose bucket naming rules" (docs.aws.amazon.com/AmazonS3/latest/userguide/
# bucketnamingrules.html): 3-63 characters; lowercase letters, digits, dots and hyphens; begins
# and ends with a letter or digit; no two adjacent dots; not an IP address; reserved prefixes
# and suffixes below.
BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def bucket_problems(name: str) -> list[str]:
    out = []
    if not _BUCKET.match(name):
        out.append(
            f"{name!r} is not a bucket name: 3-63 lowercase letters, digits, dots and hyphens, "
            "beginning and ending with a letter or digit"
        )
    if ".." in name:
        out.append(f"{name!r}: a bucket name has no two adjacent dots")
    try:
        ipaddress.ip_address(name)
        out.append(f"{name!r}: a bucket name may not be an IP address")
    except ValueError:
        pass
    out += [
        f"{name!r}: the prefix {p!r} is reserved by S3"
        for p in BUCKET_PREFIXES
        if name.startswith(p)
    ]
    out += [
        f"{name!r}: the suffix {s!r} is reserved by S3" for s in BUCKET_SUFFIXES if name.endswith(s)
    ]
    return out


# --- names derived from project and environment ------------------------------------------------
# ELBv2 CreateLoadBalancer: "must not begin with 'internal-'" (API reference, Name); the
# artifact bucket begins with the stack's name, so S3's reserved prefixes apply to it as well.
def stack_name_problems(stack: str) -> list[str]:
    out = []
    if stack.startswith("internal-"):
        out.append(
            f"the load balancer's name would start with 'internal-' ({stack}-alb), which AWS "
            "reserves for internal load balancers"
        )
    out += [
        f"the artifact bucket's name would start with {p!r}, a prefix S3 reserves"
        for p in BUCKET_PREFIXES
        if stack.startswith(p)
    ]
    return out


# --- target group health check --------------------------------------------------------------
# ELBv2 CreateTargetGroup (API reference): HealthCheckPath "must begin with a '/'", at most 1024
# characters; Matcher.HttpCode for an ALB: "values from 200 to 499", a single code, a list
# ("200,202") or a range ("200-299").
MATCHER_RANGE = (200, 499)
_MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")


def matcher_problem(matcher: str) -> str | None:
    lo, hi = MATCHER_RANGE
    form = f'codes {lo}-{hi}: one ("200"), a list ("200,202") or a range ("200-299")'
    if not _MATCHER.match(matcher):
        return f"{matcher!r} is not HTTP {form}"
    for part in matcher.split(","):
        a, _, b = part.partition("-")
        first, last = int(a), int(b or a)
        if not (lo <= first <= hi and lo <= last <= hi) or first > last:
            return f"{part!r} is outside {lo}-{hi}; an application load balancer matches {form}"
    return None


# --- CodeDeploy --------------------------------------------------------------------------------
# "Deployment configurations on an Amazon ECS compute platform" (CodeDeploy user guide): the
# predefined configs an ECS deployment group takes. A custom config (CreateDeploymentConfig with
# computePlatform ECS) has a name of the user's; `CodeDeployDefault.` names are AWS's own, and
# the others (OneAtATime, LambdaCanary...) are for EC2 or Lambda.
ECS_DEPLOYMENT_CONFIGS = (
    "CodeDeployDefault.ECSAllAtOnce",
    "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
    "CodeDeployDefault.ECSCanary10Percent5Minutes",
    "CodeDeployDefault.ECSCanary10Percent15Minutes",
)


def deployment_config_problem(name: str) -> tuple[str, str] | None:
    if name.startswith("CodeDeployDefault.") and name not in ECS_DEPLOYMENT_CONFIGS:
        close = difflib.get_close_matches(name, ECS_DEPLOYMENT_CONFIGS, n=1, cutoff=0.5)
        return (
            f"{name!r} is not a deployment config for ECS",
            f"did you mean {close[0]!r}?"
            if close
            else f"use one of {', '.join(ECS_DEPLOYMENT_CONFIGS)}",
        )
    return None


# --- regions -------------------------------------------------------------------------------------
# The regions of every partition, from botocore's endpoints data (the SDK's own list).
@functools.cache
def known_regions() -> tuple[str, ...]:
    data = botocore.loaders.create_loader().load_data("endpoints")
    return tuple(sorted(r for p in data["partitions"] for r in p.get("regions", {})))


def region_problem(region: str) -> tuple[str, str] | None:
    regions = known_regions()
    if region in regions:
        return None
    close = difflib.get_close_matches(region, regions, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "e.g. us-east-1, eu-west-1"
    return (
        f"{region!r} is not an AWS region (botocore knows {len(regions)})",
        hint + " (a region newer than the installed botocore needs: pip install -U botocore)",
    )
