"""ACM and Route 53 as `domain:` meets them on AWS.

* ACM: a certificate requested with DNS validation stays PENDING_VALIDATION until its validation
  CNAME (DescribeCertificate's DomainValidationOptions[].ResourceRecord) is in a public hosted
  zone of the account, then turns ISSUED. moto issued it after 60 s whatever the zone held.
* ACM DeleteCertificate refuses a certificate a load balancer listener still uses
  (ResourceInUseException); moto deleted it.
* ELBv2 CreateListener / ModifyListener refuse an ACM certificate that is not ISSUED
  (CertificateNotFound, as AWS answers while a certificate is still pending); moto took it.
* Route 53 ChangeResourceRecordSets is atomic and strict, as on AWS: CREATE fails when a record
  set of that name and type exists (whatever its values), DELETE fails unless the values given
  are the record set's current ones, and a batch with one failing change changes nothing. moto
  checked CREATE and DELETE against its own journal of earlier changes, and applied a batch
  change by change. Names are compared without case or trailing dot.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.acm.exceptions import CertificateNotFound
from moto.acm.models import AWSCertificateManagerBackend, CertBundle
from moto.core.exceptions import AWSError
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import ELBv2Backend, elbv2_backends
from moto.route53.exceptions import DnsNameInvalidForZone, InvalidInput, Route53ClientError
from moto.route53.models import RecordSet, Route53Backend, route53_backends

from ecs_cicd.emulator._util import replace


class ResourceInUse(AWSError):
    TYPE = "ResourceInUseException"


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


# --- ACM -------------------------------------------------------------------------------------
def validation_records(cert: CertBundle) -> list[dict[str, str]]:
    options = cert.describe()["Certificate"].get("DomainValidationOptions", [])
    return [o["ResourceRecord"] for o in options if o.get("ResourceRecord")]


def record_in_zones(account_id: str, name: str, rtype: str, value: str) -> bool:
    """A public hosted zone of the account holds the record (name, type) with `value`."""
    backend = route53_backends[account_id]["aws"]
    for zone in backend.zones.values():
        if zone.private_zone:
            continue
        for rr in zone.rrsets:
            same = _fqdn(rr.name) == _fqdn(name) and rr.type == rtype
            if same and _fqdn(value) in {_fqdn(str(v)) for v in rr.records or []}:
                return True
    return False


def _validated(account_id: str, cert: CertBundle) -> bool:
    records = validation_records(cert)
    return bool(records) and all(
        record_in_zones(account_id, r["Name"], r["Type"], r["Value"]) for r in records
    )


def _get_certificate(original: Any) -> Any:
    def get_certificate(self: AWSCertificateManagerBackend, arn: str) -> CertBundle:
        cert = self._certificates.get(arn)
        if cert is None:
            raise CertificateNotFound(arn=arn, account_id=self.account_id)
        if cert.type == "AMAZON_ISSUED" and cert.status == "PENDING_VALIDATION":
            if _validated(self.account_id, cert):
                cert.status = "ISSUED"
            return cert  # moto's check() would issue it after a minute regardless
        cert.check()
        return cert

    return get_certificate


def listeners_using(account_id: str, region: str, arn: str) -> list[str]:
    backend = elbv2_backends[account_id][region]
    return [
        listener.arn
        for lb in backend.load_balancers.values()
        for listener in lb.listeners.values()
        if arn in (listener.certificates or [])
    ]


def _delete_certificate(original: Any) -> Any:
    def delete_certificate(self: AWSCertificateManagerBackend, arn: str) -> None:
        users = listeners_using(self.account_id, self.region_name, arn)
        if users:
            raise ResourceInUse(message=f"Certificate {arn} in use by {', '.join(users)}")
        original(self, arn)

    return delete_certificate


# --- ELBv2 -----------------------------------------------------------------------------------
def _check_issued(backend: ELBv2Backend, arn: str | None) -> None:
    if not arn or ":acm:" not in arn:
        return
    from moto.acm.models import acm_backends

    acm = acm_backends[backend.account_id][backend.region_name]
    try:
        cert = acm.get_certificate(arn)
    except CertificateNotFound:
        cert = None
    if cert is None or cert.status != "ISSUED":
        raise ELBClientError("CertificateNotFound", f"Certificate '{arn}' not found")


def _create_listener(original: Any) -> Any:
    def create_listener(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        cert = kwargs.get("certificate", args[4] if len(args) > 4 else None)
        _check_issued(self, cert)
        return original(self, *args, **kwargs)

    return create_listener


def _modify_listener(original: Any) -> Any:
    def modify_listener(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        certs = kwargs.get("certificates", args[4] if len(args) > 4 else None) or []
        for c in certs:
            _check_issued(self, c.get("CertificateArn"))
        return original(self, *args, **kwargs)

    return modify_listener


# --- Route 53 --------------------------------------------------------------------------------
def _values(rrset: dict[str, Any]) -> Any:
    alias = rrset.get("AliasTarget")
    if alias:
        return (
            "alias",
            str(alias.get("HostedZoneId")),
            _fqdn(str(alias.get("DNSName", ""))),
            str(alias.get("EvaluateTargetHealth")).lower(),
        )
    values = sorted(
        str(v.get("Value") if isinstance(v, dict) else v)
        for v in rrset.get("ResourceRecords") or []
    )
    return ("records", str(rrset.get("TTL")), tuple(values))


def _stored(rr: RecordSet) -> dict[str, Any]:
    out: dict[str, Any] = {"Name": rr.name, "Type": rr.type}
    if rr.alias_target:
        out["AliasTarget"] = rr.alias_target
    else:
        out["TTL"] = rr.ttl
        out["ResourceRecords"] = list(rr.records or [])
    return out


def _bad(message: str) -> Exception:
    return Route53ClientError("InvalidChangeBatch", message)


def _change_resource_record_sets(original: Any) -> Any:
    def change_resource_record_sets(
        self: Route53Backend, zoneid: str, change_list: list[dict[str, Any]]
    ) -> None:
        zone = self.get_hosted_zone(zoneid)
        # What the zone holds, (name, type) -> values, as each change of the batch leaves it.
        have: dict[tuple[str, str], Any] = {
            (_fqdn(rr.name), str(rr.type)): _values(_stored(rr))
            for rr in zone.rrsets
            if not rr.set_identifier
        }
        for change in change_list:
            action, rrset = change["Action"], change["ResourceRecordSet"]
            key = (_fqdn(rrset["Name"]), rrset["Type"])
            where = f"[name='{key[0]}', type='{key[1]}']"
            if not (key[0] == _fqdn(zone.name) or key[0].endswith("." + _fqdn(zone.name))):
                raise DnsNameInvalidForZone(name=rrset["Name"], zone_name=zone.name)
            if "SetIdentifier" in rrset:
                continue  # routing policies: moto's own handling
            if action == "CREATE":
                if key in have:
                    raise _bad(f"Tried to create resource record set {where} but it already exists")
                have[key] = _values(rrset)
            elif action == "DELETE":
                if key not in have:
                    raise _bad(f"Tried to delete resource record set {where} but it was not found")
                if have[key] != _values(rrset):
                    raise _bad(
                        f"Tried to delete resource record set {where} but the values provided "
                        "do not match the current values"
                    )
                del have[key]
            elif action == "UPSERT":
                have[key] = _values(rrset)
            else:
                raise InvalidInput(f"Invalid action {action}")
        # Valid as a whole: apply every change.
        for change in change_list:
            journal = copy.deepcopy(change)
            rrset = dict(change["ResourceRecordSet"])
            if not rrset["Name"].endswith("."):
                rrset["Name"] += "."
            rrset["Name"] = rrset["Name"].lower()
            if "ResourceRecords" in rrset:
                rrset["ResourceRecords"] = [
                    r["Value"] if isinstance(r, dict) else r for r in rrset["ResourceRecords"]
                ]
            action = change["Action"]
            if action == "CREATE":
                zone.add_rrset(rrset)
            elif action == "UPSERT":
                zone.upsert_rrset(rrset)
            elif "SetIdentifier" in rrset:
                zone.delete_rrset_by_id(rrset["SetIdentifier"])
            else:
                key = (_fqdn(rrset["Name"]), rrset["Type"])
                zone.rrsets = [
                    rr
                    for rr in zone.rrsets
                    if (_fqdn(rr.name), rr.type) != key or rr.set_identifier
                ]
            zone.rr_changes.append(journal)

    return change_resource_record_sets


def apply() -> None:
    replace(AWSCertificateManagerBackend, "get_certificate", _get_certificate)
    replace(AWSCertificateManagerBackend, "delete_certificate", _delete_certificate)
    replace(ELBv2Backend, "create_listener", _create_listener)
    replace(ELBv2Backend, "modify_listener", _modify_listener)
    replace(Route53Backend, "change_resource_record_sets", _change_resource_record_sets)
