"""`domain:` — the service's public name over HTTPS: the Route 53 hosted zone (a reference), the
ACM certificate, its DNS validation record, the wait until it is ISSUED, and the alias record(s)
to the load balancer.

Ownership of DNS records. Route 53 records carry no tags, and a zone is usually shared with
records the user (or another tool) manages, so a record is ours only when an *ownership record*
next to it says so: a TXT record `_ecs-cicd-<type>.<name>` (`_ecs-cicd-a.shop.example.com`)
holding `"heritage=ecs_cicd,stack=<stack>"` — the design of external-dns's TXT registry. It sits
at its own name because a CNAME (the validation record) may have no other record beside it.

* A record and its ownership record are written in one ChangeBatch, which Route 53 applies
  atomically, with CREATE (never UPSERT): a record that exists already is never overwritten —
  it was found first, and without our ownership record it blocks `up` (ForeignResources)
  unless `--adopt` is given, which then writes the ownership record.
* An update (the load balancer was replaced) is one batch DELETE (the exact values we read) +
  CREATE: Route 53 refuses the DELETE if the record changed in between.
* `down` deletes the record and its ownership record in one batch, with the exact values read
  just before: never the zone, never a record without our ownership record.
* After a lost state, both are found again by their deterministic names.

The certificate is tagged at creation (RequestCertificate Tags) and found again by its domain
name and our stack tag; a certificate of the same name without our tag is someone else's and is
simply not ours (a name may have many certificates). RequestCertificate's idempotency token (one
per request) makes botocore's retry of a request return the same certificate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from ecs_cicd.aws import is_not_found, retry_on, tags_dict, tags_list
from ecs_cicd.config import Config
from ecs_cicd.errors import ConfigError, DeploymentFailed
from ecs_cicd.lifecycle import Ctx, Diff, Kind, Live, Resource
from ecs_cicd.names import STACK_TAG
from ecs_cicd.state import Record

Tags = tuple[tuple[str, str], ...]

OWNER_PREFIX = "_ecs-cicd"
HERITAGE = "heritage=ecs_cicd"
OWNER_TTL = 300
VALIDATION_TTL = 300
# DescribeCertificate right after RequestCertificate may not list the validation record yet
# (ACM fills DomainValidationOptions.ResourceRecord within seconds).
RESOURCE_RECORD_DEADLINE = 120
# ACM reports a certificate in use for a while after the listener using it is deleted.
IN_USE_DEADLINE = 300
FAILED = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED", "INACTIVE")


def fqdn(name: str) -> str:
    """Route 53's form of a name: lowercase, with the trailing dot."""
    return name.lower().rstrip(".") + "."


def owner_name(name: str, rtype: str) -> str:
    return fqdn(f"{OWNER_PREFIX}-{rtype.lower()}.{name.rstrip('.')}")


def owner_value(stack: str) -> str:
    return f'"{HERITAGE},stack={stack}"'


# --- desired state ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, kw_only=True)
class HostedZone(Resource):
    """The public hosted zone holding `domain`: looked up, never created, changed or deleted."""

    kind = "hosted_zone"
    domain: str
    zone_id: str | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class Certificate(Resource):
    kind = "certificate"
    domain: str
    zone: HostedZone  # looked up first: a missing zone stops `up` before the request


@dataclass(frozen=True, eq=False, kw_only=True)
class ValidationRecord(Resource):
    """The CNAME ACM asks for, in the zone."""

    kind = "validation_record"
    domain: str
    certificate: Certificate
    zone: HostedZone


@dataclass(frozen=True, eq=False, kw_only=True)
class CertificateIssued(Resource):
    """Not an AWS resource: the wait until the certificate is ISSUED (what an HTTPS listener
    needs). Found once it is ISSUED; `create` waits for it."""

    kind = "certificate_validation"
    certificate: Certificate
    record: ValidationRecord


@dataclass(frozen=True, eq=False, kw_only=True)
class AliasRecord(Resource):
    kind = "alias_record"
    name: str
    record_type: str  # A | AAAA
    zone: HostedZone
    load_balancer: Resource


@dataclass(frozen=True)
class DomainStack:
    zone: HostedZone
    certificate: Certificate | None  # None: load_balancer.certificate_arn is used
    validation: ValidationRecord | None
    issued: CertificateIssued | None
    aliases: tuple[AliasRecord, ...]

    @property
    def resources(self) -> tuple[Resource, ...]:
        out: list[Resource] = [self.zone]
        if self.certificate and self.validation and self.issued:
            out += [self.certificate, self.validation, self.issued]
        return (*out, *self.aliases)


def build_domain(
    cfg: Config, alb: Resource, t: Callable[[str], Tags], *, dual_stack: bool = False
) -> DomainStack | None:
    """The domain's resources (None without `domain:`): the certificate only when
    load_balancer.certificate_arn is not given."""
    if cfg.domain is None:
        return None
    name = cfg.domain.name
    zone = HostedZone(logical_id="dns.zone", domain=name, zone_id=cfg.domain.hosted_zone_id)
    cert = validation = issued = None
    if not cfg.load_balancer.certificate_arn:
        cert = Certificate(
            logical_id="acm.certificate", tags=t("acm.certificate"), domain=name, zone=zone
        )
        validation = ValidationRecord(
            logical_id="dns.validation", domain=name, certificate=cert, zone=zone
        )
        issued = CertificateIssued(logical_id="acm.issued", certificate=cert, record=validation)
    types = ("A", "AAAA") if dual_stack else ("A",)
    aliases = tuple(
        AliasRecord(
            logical_id=f"dns.alias.{rt.lower()}",
            name=name,
            record_type=rt,
            zone=zone,
            load_balancer=alb,
        )
        for rt in types
    )
    return DomainStack(zone, cert, validation, issued, aliases)


# --- hosted zone -----------------------------------------------------------------------------
class HostedZoneKind(Kind[HostedZone]):
    kind = "hosted_zone"
    label = "Route 53 hosted zone"
    reference = True
    taggable = False
    missing_hint = (
        "create the public hosted zone (and delegate the domain to it at the registrar), or "
        "set domain.hosted_zone_id"
    )

    def name(self, want: HostedZone) -> str:
        return want.zone_id or f"for {want.domain}"

    def find(self, ctx: Ctx, want: HostedZone, rec: Record | None) -> Live | None:
        r53 = ctx.client("route53")
        if want.zone_id:
            try:
                zone = r53.get_hosted_zone(Id=want.zone_id)["HostedZone"]
            except ClientError as e:
                if is_not_found(e) or e.response["Error"]["Code"] == "NoSuchHostedZone":
                    return None
                raise
            if not _within(want.domain, zone["Name"]):
                raise ConfigError(
                    f"domain {want.domain} is not within hosted zone {want.zone_id} "
                    f"({zone['Name'].rstrip('.')})",
                    field="domain.hosted_zone_id",
                    hint="name the zone that holds the domain, or leave hosted_zone_id out",
                )
            return self._live(zone)
        zones = [
            z
            for page in r53.get_paginator("list_hosted_zones").paginate()
            for z in page.get("HostedZones", [])
            if not z.get("Config", {}).get("PrivateZone") and _within(want.domain, z["Name"])
        ]
        if not zones:
            return None  # `up` stops before any change: a missing reference
        longest = max(len(z["Name"]) for z in zones)
        best = [z for z in zones if len(z["Name"]) == longest]
        if len(best) > 1:
            ids = ", ".join(z["Id"].removeprefix("/hostedzone/") for z in best)
            raise ConfigError(
                f"{len(best)} public hosted zones are named {best[0]['Name'].rstrip('.')} ({ids})",
                field="domain.hosted_zone_id",
                hint="set domain.hosted_zone_id to the one that is delegated",
            )
        return self._live(best[0])

    def _live(self, zone: dict[str, Any]) -> Live:
        zid = zone["Id"].removeprefix("/hostedzone/")
        return Live(zid, None, None, zone, {"name": zone["Name"].rstrip(".")})

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        return None  # never deleted

    def summary(self, want: HostedZone) -> list[str]:
        return [f"the public hosted zone holding {want.domain}"]

    def what(self, name: str) -> str:
        if name.startswith("for "):
            return f"public Route 53 hosted zone {name} (or a parent domain)"
        return f"Route 53 hosted zone {name}"


def _within(domain: str, zone_name: str) -> bool:
    d, z = fqdn(domain), fqdn(zone_name)
    return d == z or d.endswith("." + z)


# --- certificate -----------------------------------------------------------------------------
def _token() -> str:
    """RequestCertificate IdempotencyToken (\\w{1,32}): one per request, so botocore's retries of
    that request get the one certificate. Not derived from the stack: ACM keeps a token for an
    hour, and a `down` + `up` within it could be handed the deleted certificate's ARN. After a
    crash, the certificate is found by its tag instead."""
    return uuid.uuid4().hex


class CertificateKind(Kind[Certificate]):
    kind = "certificate"
    label = "ACM certificate"

    def name(self, want: Certificate) -> str:
        return want.domain

    def find(self, ctx: Ctx, want: Certificate, rec: Record | None) -> Live | None:
        if rec is not None:
            live = self.find_recorded(ctx, rec)
            if live is not None and live.data.get("DomainName") == want.domain:
                return live
        # Lost state, or a crash right after RequestCertificate: ours by tag, for this domain.
        acm = ctx.client("acm")
        found: list[Live] = []
        pages = acm.get_paginator("list_certificates").paginate()
        for page in pages:
            for summary in page.get("CertificateSummaryList", []):
                if summary.get("DomainName") != want.domain:
                    continue
                arn = summary["CertificateArn"]
                tags = self._tags(ctx, arn)
                if tags.get(STACK_TAG) == ctx.stack and summary.get("Status") not in FAILED:
                    live = self.find_recorded(ctx, Record(want.logical_id, self.kind, arn))
                    if live is not None:
                        found.append(live)
        # More than one of ours (requested twice beyond the token's hour): the issued one.
        found.sort(key=lambda x: (x.data.get("Status") != "ISSUED", str(x.data.get("CreatedAt"))))
        return found[0] if found else None

    def _tags(self, ctx: Ctx, arn: str) -> dict[str, str]:
        return tags_dict(
            ctx.client("acm").list_tags_for_certificate(CertificateArn=arn).get("Tags")
        )

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        try:
            cert = ctx.client("acm").describe_certificate(CertificateArn=rec.physical_id)[
                "Certificate"
            ]
        except ClientError as e:
            if is_not_found(e):
                return None
            raise
        return self._live(cert, self._tags(ctx, rec.physical_id))

    def _live(self, cert: dict[str, Any], tags: dict[str, str]) -> Live:
        arn = cert["CertificateArn"]
        return Live(arn, arn, tags, cert, {"domain": cert.get("DomainName")})

    def create(self, ctx: Ctx, want: Certificate) -> Live:
        arn = ctx.client("acm").request_certificate(
            DomainName=want.domain,
            ValidationMethod="DNS",
            IdempotencyToken=_token(),
            Tags=tags_list(want.tag_dict),
        )["CertificateArn"]
        data = {"CertificateArn": arn, "DomainName": want.domain, "Status": "PENDING_VALIDATION"}
        return Live(arn, arn, want.tag_dict, data, {"domain": want.domain})

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        ctx.client("acm").add_tags_to_certificate(
            CertificateArn=live.physical_id, Tags=tags_list(tags)
        )

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # After the HTTPS listener (it depends on the certificate); ACM may still report the
        # certificate in use for a few minutes after the listener is gone.
        retry_on(
            lambda: ctx.client("acm").delete_certificate(CertificateArn=rec.physical_id),
            codes=("ResourceInUseException",),
            fragment=None,
            deadline=IN_USE_DEADLINE,
            sleep=ctx.sleep,
        )

    def summary(self, want: Certificate) -> list[str]:
        return [f"public certificate for {want.domain}, DNS validation"]


def validation_record(ctx: Ctx, cert_arn: str, domain: str) -> dict[str, str] | None:
    """The CNAME ACM asks for (Name, Type, Value), once DescribeCertificate lists it."""
    cert = ctx.client("acm").describe_certificate(CertificateArn=cert_arn)["Certificate"]
    for option in cert.get("DomainValidationOptions", []):
        if option.get("DomainName") == domain and option.get("ResourceRecord"):
            rr: dict[str, str] = option["ResourceRecord"]
            return rr
    return None


# --- records ---------------------------------------------------------------------------------
def _norm_alias(alias: dict[str, Any]) -> tuple[str, str, bool]:
    dns = str(alias.get("DNSName", "")).lower().rstrip(".").removeprefix("dualstack.")
    return (str(alias.get("HostedZoneId")), dns, bool(alias.get("EvaluateTargetHealth")))


def _same_set(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same record set, as Route 53 compares them (names without case or trailing dot)."""
    if fqdn(a["Name"]) != fqdn(b["Name"]) or a["Type"] != b["Type"]:
        return False
    if "AliasTarget" in a or "AliasTarget" in b:
        return _norm_alias(a.get("AliasTarget", {})) == _norm_alias(b.get("AliasTarget", {}))
    return bool(a.get("TTL") == b.get("TTL") and _values(a) == _values(b))


def _values(rrset: dict[str, Any]) -> list[str]:
    return sorted(str(r["Value"]).lower().rstrip(".") for r in rrset.get("ResourceRecords", []))


class RecordKind(Kind[Any]):
    """A record set and its ownership record (see the module's docstring)."""

    taggable = False
    label = "DNS record"
    record_type: ClassVar[str] = ""

    def desired(self, ctx: Ctx, want: Any) -> dict[str, Any]:
        """The record set we write (Name, Type, TTL + ResourceRecords | AliasTarget)."""
        raise NotImplementedError

    def owner(self, ctx: Ctx, rrset: dict[str, Any]) -> dict[str, Any]:
        return {
            "Name": owner_name(rrset["Name"], rrset["Type"]),
            "Type": "TXT",
            "TTL": OWNER_TTL,
            "ResourceRecords": [{"Value": owner_value(ctx.stack)}],
        }

    def _get(self, ctx: Ctx, zone_id: str, name: str, rtype: str) -> dict[str, Any] | None:
        """The record set (name, type) of the zone, or None: one ListResourceRecordSets call."""
        try:
            sets = ctx.client("route53").list_resource_record_sets(
                HostedZoneId=zone_id,
                StartRecordName=fqdn(name),
                StartRecordType=rtype,
                MaxItems="1",
            )["ResourceRecordSets"]
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchHostedZone":
                return None
            raise
        for s in sets:
            if fqdn(s["Name"]) == fqdn(name) and s["Type"] == rtype and "SetIdentifier" not in s:
                return dict(s)
        return None

    def _lookup(self, ctx: Ctx, zone_id: str, name: str, rtype: str) -> Live | None:
        found = self._get(ctx, zone_id, name, rtype)
        if found is None:
            return None
        marker = self._get(ctx, zone_id, owner_name(name, rtype), "TXT")
        values = [r["Value"] for r in (marker or {}).get("ResourceRecords", [])]
        ours = owner_value(ctx.stack) in values
        pid = f"{zone_id}:{fqdn(name)}:{rtype}"
        data = {"record": found, "marker": marker}
        outputs = {"zone": zone_id, "name": fqdn(name), "type": rtype}
        return Live(pid, None, None, data, outputs, owned_by_holder=ours)

    def find(self, ctx: Ctx, want: Any, rec: Record | None) -> Live | None:
        zone_id = ctx.id_of(want.zone)
        if rec is not None:
            live = self.find_recorded(ctx, rec)
            if live is not None:
                return live
        name, rtype = self.key(ctx, want)
        return self._lookup(ctx, zone_id, name, rtype)

    def key(self, ctx: Ctx, want: Any) -> tuple[str, str]:
        """The record set's name and type (what it is found by)."""
        rrset = self.desired(ctx, want)
        return rrset["Name"], rrset["Type"]

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        zone_id, name, rtype = rec.physical_id.split(":")
        return self._lookup(ctx, zone_id, name, rtype)

    def _change(self, ctx: Ctx, zone_id: str, changes: list[tuple[str, dict[str, Any]]]) -> None:
        ctx.client("route53").change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Comment": f"ecs_cicd {ctx.stack}",
                "Changes": [{"Action": a, "ResourceRecordSet": s} for a, s in changes],
            },
        )

    def create(self, ctx: Ctx, want: Any) -> Live:
        zone_id = ctx.id_of(want.zone)
        rrset = self.desired(ctx, want)
        owner = self.owner(ctx, rrset)
        changes = [("CREATE", rrset)]
        marker = self._get(ctx, zone_id, owner["Name"], "TXT")
        if marker is None:
            changes.append(("CREATE", owner))
        elif not _same_set(marker, owner):
            # Another stack's ownership record for this name: CREATE of ours fails in the same
            # batch, so the record is not written either.
            changes.append(("CREATE", owner))
        self._change(ctx, zone_id, changes)
        pid = f"{zone_id}:{fqdn(rrset['Name'])}:{rrset['Type']}"
        outputs = {"zone": zone_id, "name": fqdn(rrset["Name"]), "type": rrset["Type"]}
        return Live(pid, None, None, {"record": rrset, "marker": owner}, outputs, True)

    def diff(self, ctx: Ctx, want: Any, live: Live) -> list[Diff]:
        rrset = self.desired(ctx, want)
        have = live.data["record"]
        if _same_set(have, rrset):
            return []
        return [Diff(rrset["Type"], self._text(have), self._text(rrset))]

    def _text(self, rrset: dict[str, Any]) -> str:
        if "AliasTarget" in rrset:
            return f"{fqdn(rrset['Name'])} alias {_norm_alias(rrset['AliasTarget'])[1]}"
        values = ", ".join(r["Value"] for r in rrset.get("ResourceRecords", []))
        return f"{fqdn(rrset['Name'])} {rrset['Type']} {values}"

    def update(self, ctx: Ctx, want: Any, live: Live, diffs: list[Diff]) -> Live | None:
        zone_id = live.outputs["zone"]
        rrset = self.desired(ctx, want)
        have = live.data["record"]
        changes = [("DELETE", have), ("CREATE", rrset)]
        if fqdn(have["Name"]) != fqdn(rrset["Name"]) or have["Type"] != rrset["Type"]:
            if live.data.get("marker"):
                changes.append(("DELETE", live.data["marker"]))
            changes.append(("CREATE", self.owner(ctx, rrset)))
        self._change(ctx, zone_id, changes)
        pid = f"{zone_id}:{fqdn(rrset['Name'])}:{rrset['Type']}"
        outputs = {"zone": zone_id, "name": fqdn(rrset["Name"]), "type": rrset["Type"]}
        return Live(pid, None, None, {"record": rrset, "marker": None}, outputs, True)

    def tag(self, ctx: Ctx, live: Live, tags: dict[str, str]) -> None:
        """`--adopt`: write our ownership record (replacing another's, exactly as read)."""
        owner = self.owner(ctx, live.data["record"])
        changes = []
        if live.data.get("marker"):
            changes.append(("DELETE", live.data["marker"]))
        changes.append(("CREATE", owner))
        self._change(ctx, live.outputs["zone"], changes)

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        # The exact values just read: Route 53 refuses the batch if either changed since.
        changes = [("DELETE", live.data["record"])]
        if live.data.get("marker"):
            changes.append(("DELETE", live.data["marker"]))
        self._change(ctx, live.outputs["zone"], changes)

    def summary(self, want: Any) -> list[str]:
        rtype = (self.record_type or want.record_type).lower()
        return [f"+ TXT {OWNER_PREFIX}-{rtype}.<name> ownership record"]


class ValidationRecordKind(RecordKind):
    kind = "validation_record"
    label = "certificate validation record"
    record_type = "CNAME"

    def name(self, want: ValidationRecord) -> str:
        return f"validation CNAME of {want.domain}"

    def desired(self, ctx: Ctx, want: ValidationRecord) -> dict[str, Any]:
        arn = ctx.arn_of(want.certificate)
        rr = retry_on_none(
            ctx,
            lambda: validation_record(ctx, arn, want.domain),
            f"the validation record of certificate {arn}",
        )
        return {
            "Name": fqdn(rr["Name"]),
            "Type": rr["Type"],
            "TTL": VALIDATION_TTL,
            "ResourceRecords": [{"Value": rr["Value"]}],
        }

    def summary(self, want: ValidationRecord) -> list[str]:
        return [f"CNAME ACM asks for, in the zone of {want.domain}", *super().summary(want)]


def retry_on_none(ctx: Ctx, call: Any, what: str) -> Any:
    from ecs_cicd.waiters import poll

    return poll(ctx, what, call, deadline=RESOURCE_RECORD_DEADLINE, cap=5.0)


class AliasRecordKind(RecordKind):
    kind = "alias_record"
    label = "alias record"

    def name(self, want: AliasRecord) -> str:
        return f"{want.name} {want.record_type}"

    def key(self, ctx: Ctx, want: AliasRecord) -> tuple[str, str]:
        # Known without the load balancer: a foreign record of that name stops the first `up`
        # before it changes anything.
        return fqdn(want.name), want.record_type

    def desired(self, ctx: Ctx, want: AliasRecord) -> dict[str, Any]:
        lb = ctx.ref(want.load_balancer)
        dns = str(lb.outputs.get("dns_name", ""))
        zone = lb.outputs.get("canonical_zone_id")
        if not zone:  # a record written before the load balancer's outputs had it
            found = ctx.client("elbv2").describe_load_balancers(LoadBalancerArns=[lb.physical_id])
            zone = found["LoadBalancers"][0]["CanonicalHostedZoneId"]
        # The `dualstack.` name answers AAAA too (Route 53 developer guide, ELB alias targets).
        prefix = "dualstack." if want.record_type == "AAAA" else ""
        return {
            "Name": fqdn(want.name),
            "Type": want.record_type,
            "AliasTarget": {
                "HostedZoneId": zone,
                "DNSName": fqdn(prefix + dns),
                "EvaluateTargetHealth": True,
            },
        }

    def summary(self, want: AliasRecord) -> list[str]:
        return [
            f"{want.record_type} alias {want.name} -> the load balancer",
            *super().summary(want),
        ]


# --- the wait for ISSUED ---------------------------------------------------------------------
class CertificateIssuedKind(Kind[CertificateIssued]):
    """`find`: the certificate, once ISSUED; `create`: wait until it is (`waits.certificate`).
    Nothing to delete: the certificate itself is `acm.certificate`'s."""

    kind = "certificate_validation"
    label = "certificate validation"
    taggable = False

    def name(self, want: CertificateIssued) -> str:
        return want.certificate.domain

    def find(self, ctx: Ctx, want: CertificateIssued, rec: Record | None) -> Live | None:
        arn = ctx.arn_of(want.certificate)
        ctx.ref(want.record)  # the record is written first
        if rec is None or rec.physical_id != arn:
            return None  # not waited for yet: `create` waits (at once done if ISSUED already)
        status = self._status(ctx, arn)
        return self._live(arn) if status == "ISSUED" else None

    def _live(self, arn: str) -> Live:
        return Live(arn, arn, None, None, {"status": "ISSUED"}, owned_by_holder=True)

    def _status(self, ctx: Ctx, arn: str) -> str:
        cert = ctx.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
        status = str(cert.get("Status"))
        if status in FAILED:
            reason = cert.get("FailureReason") or status
            raise DeploymentFailed(
                f"ACM certificate {arn} for {want_domain(cert)} is {status} ({reason})",
                hint="check the zone is the one delegated for the domain (its NS records at the "
                "registrar), then `down` and `up` again to request a new certificate",
            )
        return status

    def create(self, ctx: Ctx, want: CertificateIssued) -> Live:
        arn = ctx.arn_of(want.certificate)
        seen = {"status": ""}

        def check() -> bool | None:
            status = self._status(ctx, arn)
            if status != seen["status"]:
                ctx.status("certificate", f"certificate for {want.certificate.domain} {status}")
                seen["status"] = status
            return True if status == "ISSUED" else None

        from ecs_cicd.waiters import poll

        poll(
            ctx,
            f"ACM to validate the certificate for {want.certificate.domain} ({arn})",
            check,
            deadline=ctx.deadline("certificate"),
            cap=15.0,
            last_seen=lambda: seen["status"],
            key="certificate",
        )
        return self._live(arn)

    def find_recorded(self, ctx: Ctx, rec: Record) -> Live | None:
        return None  # nothing to delete

    def delete(self, ctx: Ctx, rec: Record, live: Live) -> None:
        return None

    def summary(self, want: CertificateIssued) -> list[str]:
        return ["wait until ACM has validated the certificate (ISSUED)"]


def want_domain(cert: dict[str, Any]) -> str:
    return str(cert.get("DomainName", "?"))


def https_url(cfg: Config) -> str | None:
    """`https://<domain>` (with the port unless 443), or None without `domain`."""
    if cfg.domain is None:
        return None
    port = cfg.load_balancer.https_port
    return f"https://{cfg.domain.name}" + ("" if port == 443 else f":{port}")


KINDS = (
    HostedZoneKind(),
    CertificateKind(),
    ValidationRecordKind(),
    CertificateIssuedKind(),
    AliasRecordKind(),
)
