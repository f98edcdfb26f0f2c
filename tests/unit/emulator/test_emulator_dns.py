"""The emulator's ACM, ELBv2-certificate and Route 53 fixes (ecs_cicd/emulator/dns.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.unit.emulator.conftest import REGION, Clients

DOMAIN = "shop.example.com"


def zone(aws: Clients, name: str = "example.com") -> str:
    zid: str = aws("route53").create_hosted_zone(Name=name, CallerReference=name)["HostedZone"][
        "Id"
    ]
    return zid


def change(aws: Clients, zid: str, *changes: tuple[str, dict[str, Any]]) -> None:
    aws("route53").change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": a, "ResourceRecordSet": r} for a, r in changes]},
    )


def rrsets(aws: Clients, zid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = aws("route53").list_resource_record_sets(HostedZoneId=zid)[
        "ResourceRecordSets"
    ]
    return out


def a_record(value: str, name: str = DOMAIN) -> dict[str, Any]:
    return {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}]}


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


# --- ACM ---------------------------------------------------------------------------------------
def request(aws: Clients) -> tuple[str, dict[str, str]]:
    acm = aws("acm")
    arn: str = acm.request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")["CertificateArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    [option] = cert["DomainValidationOptions"]
    return arn, option["ResourceRecord"]


def status(aws: Clients, arn: str) -> str:
    return str(aws("acm").describe_certificate(CertificateArn=arn)["Certificate"]["Status"])


def test_certificate_is_issued_only_once_its_validation_record_exists(
    aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.settings

    monkeypatch.setattr(moto.settings, "ACM_VALIDATION_WAIT", 0)  # moto's "after a while"
    zid = zone(aws)
    arn, rr = request(aws)
    assert status(aws, arn) == "PENDING_VALIDATION"
    # A record of that name with another value does not validate it.
    change(
        aws,
        zid,
        (
            "CREATE",
            {
                "Name": rr["Name"],
                "Type": "CNAME",
                "TTL": 300,
                "ResourceRecords": [{"Value": "elsewhere.example.net."}],
            },
        ),
    )
    assert status(aws, arn) == "PENDING_VALIDATION"
    change(
        aws,
        zid,
        (
            "DELETE",
            {
                "Name": rr["Name"],
                "Type": "CNAME",
                "TTL": 300,
                "ResourceRecords": [{"Value": "elsewhere.example.net."}],
            },
        ),
        (
            "CREATE",
            {
                "Name": rr["Name"],
                "Type": "CNAME",
                "TTL": 300,
                "ResourceRecords": [{"Value": rr["Value"]}],
            },
        ),
    )
    assert status(aws, arn) == "ISSUED"
    summaries = aws("acm").list_certificates()["CertificateSummaryList"]
    assert [s["Status"] for s in summaries] == ["ISSUED"]


def _balancer(aws: Clients) -> Any:
    """A load balancer and target group; returns: certificate ARN -> a new HTTPS listener's."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ac")
    ]
    elb = aws("elbv2")
    lb = elb.create_load_balancer(Name="lb", Subnets=subnets)["LoadBalancers"][0]
    tg = elb.create_target_group(Name="tg", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
    forward = {"Type": "forward", "TargetGroupArn": tg["TargetGroups"][0]["TargetGroupArn"]}

    def listener(cert: str) -> str:
        arn: str = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTPS",
            Port=443,
            Certificates=[{"CertificateArn": cert}],
            DefaultActions=[forward],
        )["Listeners"][0]["ListenerArn"]
        return arn

    return listener


def test_listener_refuses_a_pending_certificate_and_its_delete_waits_for_the_listener(
    aws: Clients,
) -> None:
    zid = zone(aws)
    arn, rr = request(aws)
    listener_with = _balancer(aws)
    with pytest.raises(ClientError) as e:
        listener_with(arn)
    assert code(e) == "CertificateNotFound"
    change(
        aws,
        zid,
        (
            "CREATE",
            {
                "Name": rr["Name"],
                "Type": "CNAME",
                "TTL": 300,
                "ResourceRecords": [{"Value": rr["Value"]}],
            },
        ),
    )
    listener = listener_with(arn)
    with pytest.raises(ClientError) as e:
        aws("acm").delete_certificate(CertificateArn=arn)
    assert code(e) == "ResourceInUseException"
    aws("elbv2").delete_listener(ListenerArn=listener)
    aws("acm").delete_certificate(CertificateArn=arn)
    assert aws("acm").list_certificates()["CertificateSummaryList"] == []


# --- Route 53 ----------------------------------------------------------------------------------
def test_create_refuses_an_existing_record_whatever_its_values(aws: Clients) -> None:
    zid = zone(aws)
    change(aws, zid, ("CREATE", a_record("192.0.2.1")))
    with pytest.raises(ClientError) as e:
        change(aws, zid, ("CREATE", a_record("192.0.2.2", name="SHOP.example.com.")))
    assert code(e) == "InvalidChangeBatch" and "already exists" in str(e.value)
    assert [r["ResourceRecords"] for r in rrsets(aws, zid) if r["Type"] == "A"] == [
        [{"Value": "192.0.2.1"}]
    ]


def test_delete_needs_the_current_values(aws: Clients) -> None:
    zid = zone(aws)
    change(aws, zid, ("UPSERT", a_record("192.0.2.1")))
    change(aws, zid, ("UPSERT", a_record("192.0.2.9")))  # moto's journal holds both
    with pytest.raises(ClientError) as e:
        change(aws, zid, ("DELETE", a_record("192.0.2.1")))
    assert "do not match" in str(e.value)
    with pytest.raises(ClientError) as e:
        change(aws, zid, ("DELETE", a_record("192.0.2.1", name="nothing.example.com")))
    assert "not found" in str(e.value)
    change(aws, zid, ("DELETE", a_record("192.0.2.9")))
    assert not [r for r in rrsets(aws, zid) if r["Type"] == "A"]


def test_a_batch_is_all_or_nothing(aws: Clients) -> None:
    zid = zone(aws)
    change(aws, zid, ("CREATE", a_record("192.0.2.1")))
    before = rrsets(aws, zid)
    txt = {
        "Name": f"_ecs-cicd-a.{DOMAIN}",
        "Type": "TXT",
        "TTL": 300,
        "ResourceRecords": [{"Value": '"heritage=ecs_cicd,stack=x"'}],
    }
    with pytest.raises(ClientError):
        change(aws, zid, ("CREATE", txt), ("CREATE", a_record("192.0.2.2")))
    assert rrsets(aws, zid) == before


def test_alias_records_round_trip_and_delete_by_value(aws: Clients) -> None:
    zid = zone(aws)
    target: dict[str, Any] = {
        "HostedZoneId": "Z14GRHDCWA56QT",
        "DNSName": "lb-1.ap-northeast-1.elb.amazonaws.com",
        "EvaluateTargetHealth": True,
    }
    alias: dict[str, Any] = {"Name": DOMAIN, "Type": "A", "AliasTarget": target}
    change(aws, zid, ("CREATE", alias))
    [got] = [r for r in rrsets(aws, zid) if r["Type"] == "A"]
    assert got["AliasTarget"]["DNSName"].rstrip(".") == "lb-1.ap-northeast-1.elb.amazonaws.com"
    other = {**alias, "AliasTarget": {**target, "DNSName": "lb-2.elb.amazonaws.com"}}
    with pytest.raises(ClientError):
        change(aws, zid, ("DELETE", other))
    change(aws, zid, ("DELETE", got))
    assert not [r for r in rrsets(aws, zid) if r["Type"] == "A"]


def test_a_record_outside_the_zone_is_refused(aws: Clients) -> None:
    zid = zone(aws)
    with pytest.raises(ClientError):
        change(aws, zid, ("CREATE", a_record("192.0.2.1", name="shop.other.com")))


# --- the call log: Route 53 is a REST API ------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "action", "mutating"),
    [
        ("GET", "/2013-04-01/hostedzone", "ListHostedZones", False),
        ("GET", "/2013-04-01/hostedzone/Z1", "GetHostedZone", False),
        ("GET", "/2013-04-01/hostedzone/Z1/rrset", "ListResourceRecordSets", False),
        ("POST", "/2013-04-01/hostedzone/Z1/rrset/", "ChangeResourceRecordSets", True),
        ("POST", "/2013-04-01/hostedzone", "CreateHostedZone", True),
        ("DELETE", "/2013-04-01/hostedzone/Z1", "DeleteHostedZone", True),
    ],
)
def test_route53_calls_are_classified(method: str, path: str, action: str, mutating: bool) -> None:
    from ecs_cicd.emulator import middleware as mw

    auth = (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/route53/aws4_request, "
        "SignedHeaders=host, Signature=abc"
    )
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_AUTHORIZATION": auth}
    call = mw.classify(environ, 1)
    assert (call.service, call.action, call.mutating) == ("route53", action, mutating)
