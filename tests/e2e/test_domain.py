"""`domain:` through the real CLI on the emulator: `up` requests the certificate, validates it
through the hosted zone, serves HTTPS (HTTP redirects) on an alias record; a second `up` makes
no mutating call; `down` leaves the zone exactly as it was; a foreign record is never touched."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_cicd.emulator.client import fetch_calls, reset_calls
from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e
STACK = "test-codepipeline-dev"
DOMAIN = "shop.example.com"


def mutating(endpoint: str) -> list[str]:
    return [f"{c['service']}:{c['action']}" for c in fetch_calls(endpoint) if c["mutating"]]


def with_domain(cli: Cli) -> None:
    path = cli.workdir / "ecs_cicd.yaml"
    path.write_text(path.read_text() + f"\ndomain:\n  name: {DOMAIN}\n")


def zone(cli: Cli) -> tuple[Any, str]:
    r53 = cli.aws().client("route53")
    zid = r53.create_hosted_zone(Name="example.com", CallerReference="e2e")["HostedZone"]["Id"]
    # Someone else's record in the zone: it must survive up and down untouched.
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "www.example.com",
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "192.0.2.1"}],
                    },
                }
            ]
        },
    )
    return r53, zid


def snapshot(r53: Any, zid: str) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = r53.list_resource_record_sets(HostedZoneId=zid)[
        "ResourceRecordSets"
    ]
    return sorted(sets, key=lambda r: (r["Name"], r["Type"]))


def test_domain_up_idempotent_down_leaves_the_zone_as_it_was(cli: Cli) -> None:
    with_domain(cli)
    r53, zid = zone(cli)
    before = snapshot(r53, zid)

    up = json.loads(cli.run("up", "--output", "json").stdout)
    actions = {r["id"]: r["action"] for r in up["resources"]}
    assert actions["dns.zone"] == "reference"
    for lid in ("acm.certificate", "dns.validation", "acm.issued", "dns.alias.a", "listener.https"):
        assert actions[lid] == "create", (lid, actions)
    assert next(iter(up["outputs"])) == "url" and up["outputs"]["url"] == f"https://{DOMAIN}"
    assert up["outputs"]["load_balancer_url"].startswith("https://")

    aws = cli.aws()
    [summary] = aws.client("acm").list_certificates()["CertificateSummaryList"]
    cert = aws.client("acm").describe_certificate(CertificateArn=summary["CertificateArn"])[
        "Certificate"
    ]
    assert (cert["DomainName"], cert["Status"]) == (DOMAIN, "ISSUED")
    tags = aws.client("acm").list_tags_for_certificate(CertificateArn=cert["CertificateArn"])
    assert {"Key": "ecs-cicd:stack", "Value": STACK} in tags["Tags"]
    validation = cert["DomainValidationOptions"][0]["ResourceRecord"]
    rrs = {(r["Name"], r["Type"]): r for r in snapshot(r53, zid)}
    assert rrs[(validation["Name"], "CNAME")]["ResourceRecords"] == [{"Value": validation["Value"]}]
    elb = aws.client("elbv2")
    lb = elb.describe_load_balancers(Names=[f"{STACK}-alb"])["LoadBalancers"][0]
    alias = rrs[(f"{DOMAIN}.", "A")]["AliasTarget"]
    assert alias["DNSName"].rstrip(".").lower() == lb["DNSName"].lower()
    assert alias["HostedZoneId"] == lb["CanonicalHostedZoneId"]
    listeners = {
        li["Port"]: li
        for li in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    }
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"] == [{"CertificateArn": cert["CertificateArn"]}]
    assert listeners[443]["DefaultActions"][0]["Type"] == "forward"
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"

    reset_calls(cli.endpoint)
    again = json.loads(cli.run("up", "--output", "json").stdout)
    assert {r["action"] for r in again["resources"]} <= {"unchanged", "reference"}
    assert mutating(cli.endpoint) == []
    outputs = json.loads(cli.run("outputs", "--output", "json").stdout)
    assert outputs["url"] == f"https://{DOMAIN}"

    # A lost state: the certificate is found again by its tag, the records by their names and
    # ownership records; nothing is requested or written twice.
    state_file = cli.workdir / ".ecs_cicd" / f"{STACK}-ap-northeast-1.json"
    state_file.unlink()
    recovered = json.loads(cli.run("state", "recover", "--output", "json").stdout)
    found = {r["id"]: r["physical_id"] for r in recovered["resources"] if r["action"] == "adopt"}
    assert found["acm.certificate"] == cert["CertificateArn"]
    assert {"dns.validation", "dns.alias.a", "listener.https"} <= set(found)

    cli.run("down", "--yes", "--output", "json")
    assert snapshot(r53, zid) == before  # the zone, exactly as it was
    assert aws.client("acm").list_certificates()["CertificateSummaryList"] == []


def test_up_refuses_before_any_change_without_a_zone_or_with_a_foreign_record(cli: Cli) -> None:
    with_domain(cli)
    reset_calls(cli.endpoint)
    refused = cli.run("up", check=False)
    assert refused.returncode == 1, refused.stderr
    assert "hosted zone for shop.example.com" in refused.stderr
    assert "domain.hosted_zone_id" in refused.stderr and "nothing was changed" in refused.stderr
    assert mutating(cli.endpoint) == []

    r53, zid = zone(cli)
    r53.change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": DOMAIN,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "192.0.2.7"}],
                    },
                }
            ]
        },
    )
    before = snapshot(r53, zid)
    # The alias record is found by its name in the first, read-only pass.
    reset_calls(cli.endpoint)
    refused = cli.run("up", "--output", "json", check=False)
    assert refused.returncode == 1, refused.stderr
    assert "dns.alias.a" in refused.stderr and "not this stack's" in refused.stderr
    assert mutating(cli.endpoint) == []
    assert snapshot(r53, zid) == before  # their record, untouched
