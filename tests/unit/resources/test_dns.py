"""`domain:`: the hosted zone look-up, the ACM certificate, its validation record, the wait for
ISSUED, the HTTPS listener and the alias record, on moto with the emulator layer; ownership of
DNS records through their TXT ownership records, and what a crash or a lost state leaves."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ecs_cicd.config import Config
from ecs_cicd.errors import AwsError, ConfigError
from ecs_cicd.lifecycle import Ctx, ForeignResources, examine
from ecs_cicd.resources import dns, kinds
from ecs_cicd.resources.loadbalancer import LoadBalancer
from ecs_cicd.stack import build_stack
from tests.unit.resources.helpers import (
    TARGET,
    client_error,
    config_with,
    delete,
    ensure,
    ensure_all,
    inject,
    issued_certificate,
    plan,
    recorded,
    stack_of,
)

DOMAIN = "shop.example.com"


@pytest.fixture
def cfg() -> Config:  # the example config with a domain
    return config_with(domain={"name": DOMAIN})


def zone(ctx: Ctx, name: str = "example.com", *, private: bool = False) -> str:
    r53 = ctx.client("route53")
    kwargs: dict[str, Any] = {"Name": name, "CallerReference": name + str(private)}
    if private:
        vpc = ctx.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        kwargs["VPC"] = {"VPCRegion": "ap-northeast-1", "VPCId": vpc}
        kwargs["HostedZoneConfig"] = {"PrivateZone": True}
    zid: str = r53.create_hosted_zone(**kwargs)["HostedZone"]["Id"]
    return zid.removeprefix("/hostedzone/")


def records(ctx: Ctx, zid: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = ctx.client("route53").list_resource_record_sets(HostedZoneId=zid)[
        "ResourceRecordSets"
    ]
    return sorted(out, key=lambda r: (r["Name"], r["Type"]))


def write(ctx: Ctx, zid: str, action: str, rrset: dict[str, Any]) -> None:
    ctx.client("route53").change_resource_record_sets(
        HostedZoneId=zid,
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]},
    )


def certificates(ctx: Ctx) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ctx.client("acm").list_certificates()["CertificateSummaryList"]
    return found


# --- config and the desired stack --------------------------------------------------------------
def test_domain_adds_zone_certificate_validation_wait_and_alias(cfg: Config) -> None:
    stack = stack_of(cfg)
    ids = stack.ids
    for lid in ("dns.zone", "acm.certificate", "dns.validation", "acm.issued", "dns.alias.a"):
        assert lid in ids
    assert "dns.alias.aaaa" not in ids  # the load balancer is IPv4 only
    https = stack.get("listener.https")
    assert https.certificate is stack.get("acm.issued")  # type: ignore[attr-defined]
    http = stack.get("listener.http")
    assert http.redirect == {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}  # type: ignore[attr-defined]
    # Deleted in reverse: the listener before the certificate it uses.
    assert ids.index("acm.certificate") < ids.index("acm.issued") < ids.index("listener.https")
    sg = stack.get("sg.alb")
    assert {i.from_port for i in sg.ingress} == {80, 443}  # type: ignore[attr-defined]
    cert = stack.get("acm.certificate")
    assert dict(cert.tags)["ecs-cicd:stack"] == cfg.stack


def test_no_domain_no_dns_resources() -> None:
    stack = stack_of(config_with())
    assert not [r for r in stack.ids if r.startswith(("dns.", "acm."))]
    assert "listener.https" not in stack.ids


def test_dual_stack_load_balancer_adds_aaaa(cfg: Config) -> None:
    alb = build_stack(cfg, TARGET).get("alb")
    assert isinstance(alb, LoadBalancer)
    alb = dataclasses.replace(alb, ip_address_type="dualstack")
    built = dns.build_domain(cfg, alb, lambda lid: (), dual_stack=True)
    assert built is not None
    assert [(a.logical_id, a.record_type) for a in built.aliases] == [
        ("dns.alias.a", "A"),
        ("dns.alias.aaaa", "AAAA"),
    ]


def test_given_certificate_arn_skips_acm() -> None:
    arn = "arn:aws:acm:ap-northeast-1:123456789012:certificate/abc"
    cfg = config_with(domain={"name": DOMAIN}, load_balancer__certificate_arn=arn)
    stack = stack_of(cfg)
    assert not [r for r in stack.ids if r.startswith("acm.")]
    assert "dns.alias.a" in stack.ids and "dns.validation" not in stack.ids
    https = stack.get("listener.https")
    assert https.certificate_arn == arn and https.certificate is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "name",
    [
        "shop",
        "-shop.example.com",
        "shop..example.com",
        "*.example.com",
        "shop_x.example.com",
        "a" * 64 + ".example.com",
        "shop.example.1",
    ],
)
def test_bad_domain_names_are_refused_at_load(name: str) -> None:
    with pytest.raises(ConfigError, match=r"domain\.name"):
        config_with(domain={"name": name})


def test_domain_name_is_normalised() -> None:
    cfg = config_with(domain={"name": "Shop.Example.COM.", "hosted_zone_id": "/hostedzone/Z123ABC"})
    assert cfg.domain is not None
    assert (cfg.domain.name, cfg.domain.hosted_zone_id) == (DOMAIN, "Z123ABC")


def test_https_port_clash_with_domain_is_refused() -> None:
    with pytest.raises(ConfigError, match="https_port"):
        config_with(domain={"name": DOMAIN}, load_balancer__https_port=80)


def test_unknown_domain_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="domain"):
        config_with(domain={"name": DOMAIN, "zone": "x"})


# --- hosted zone -------------------------------------------------------------------------------
def test_zone_is_the_longest_public_suffix(ctx: Ctx, cfg: Config) -> None:
    zone(ctx, "example.com")
    sub = zone(ctx, "shop.example.com")
    zone(ctx, "shop.example.com", private=True)
    zone(ctx, "other.com")
    out = plan(ctx, cfg, "dns.zone")
    assert (out.action, out.physical_id) == ("reference", sub)


def test_no_zone_is_missing_and_up_refuses_before_any_change(ctx: Ctx, cfg: Config) -> None:
    zone(ctx, "other.com")
    out = plan(ctx, cfg, "dns.zone")
    assert out.action == "missing"
    assert DOMAIN in out.changes[0]
    with pytest.raises(AwsError, match="hosted zone"):
        ensure(ctx, cfg, "dns.zone")


def test_zone_id_must_hold_the_domain(ctx: Ctx) -> None:
    other = zone(ctx, "other.com")
    cfg = config_with(domain={"name": DOMAIN, "hosted_zone_id": other})
    with pytest.raises(ConfigError, match="not within hosted zone"):
        plan(ctx, cfg, "dns.zone")


# --- the whole domain --------------------------------------------------------------------------
def test_domain_end_to_end_then_unchanged_then_removed(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    write(
        ctx,
        zid,
        "CREATE",
        {
            "Name": "www.example.com",
            "Type": "A",
            "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.1"}],
        },
    )
    before = records(ctx, zid)
    outs = ensure_all(ctx, cfg, "listener.https", "listener.http", "dns.alias.a")
    assert {o.action for o in outs} - {"reference"} == {"create"}, [
        (o.logical_id, o.action) for o in outs if o.action != "create"
    ]

    [cert] = certificates(ctx)
    assert cert["Status"] == "ISSUED" and cert["DomainName"] == DOMAIN
    assert recorded(ctx, "acm.certificate").physical_id == cert["CertificateArn"]
    rrs = {(r["Name"], r["Type"]): r for r in records(ctx, zid)}
    cname = next(r for (n, t), r in rrs.items() if t == "CNAME")
    assert cname["Name"].endswith(f".{DOMAIN}.") and cname["Name"].startswith("_")
    assert rrs[(dns.owner_name(cname["Name"], "CNAME"), "TXT")]["ResourceRecords"] == [
        {"Value": f'"heritage=ecs_cicd,stack={cfg.stack}"'}
    ]
    alias = rrs[(f"{DOMAIN}.", "A")]["AliasTarget"]
    lb = ctx.client("elbv2").describe_load_balancers(
        LoadBalancerArns=[recorded(ctx, "alb").physical_id]
    )["LoadBalancers"][0]
    assert alias["DNSName"].rstrip(".") == lb["DNSName"]
    assert alias["HostedZoneId"] == lb["CanonicalHostedZoneId"]
    assert (f"_ecs-cicd-a.{DOMAIN}.", "TXT") in rrs

    elb = ctx.client("elbv2")
    https = elb.describe_listeners(ListenerArns=[recorded(ctx, "listener.https").physical_id])[
        "Listeners"
    ][0]
    assert https["Protocol"] == "HTTPS" and https["Port"] == 443
    assert https["Certificates"] == [{"CertificateArn": cert["CertificateArn"]}]
    http = elb.describe_listeners(ListenerArns=[recorded(ctx, "listener.http").physical_id])[
        "Listeners"
    ][0]
    assert http["DefaultActions"][0]["Type"] == "redirect"
    assert http["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"

    for lid in (
        "dns.zone",
        "acm.certificate",
        "dns.validation",
        "acm.issued",
        "dns.alias.a",
        "listener.https",
        "listener.http",
    ):
        assert plan(ctx, cfg, lid).action in ("unchanged", "reference"), lid

    # down's order: alias, listener, wait (nothing), validation record, certificate.
    for lid in ("dns.alias.a", "listener.https", "acm.issued", "dns.validation", "acm.certificate"):
        assert delete(ctx, lid).action in ("delete", "gone"), lid
    assert certificates(ctx) == []
    assert records(ctx, zid) == before


# --- ownership ---------------------------------------------------------------------------------
def test_foreign_alias_record_is_never_overwritten(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    theirs = {
        "Name": f"{DOMAIN}.",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.7"}],
    }
    write(ctx, zid, "CREATE", theirs)
    ensure_all(ctx, cfg, "alb", "dns.zone")
    out = plan(ctx, cfg, "dns.alias.a")
    assert out.action == "foreign"
    with pytest.raises(ForeignResources):
        ensure(ctx, cfg, "dns.alias.a")
    assert [r for r in records(ctx, zid) if r["Type"] == "A"] == [theirs]


def test_another_stacks_record_is_foreign_and_left_alone_by_down(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    ensure_all(ctx, cfg, "dns.alias.a")
    other = Ctx(ctx.aws, ctx.state.scratch_copy(), ctx.target, stack="someone-else")
    w = stack_of(cfg).get("dns.alias.a")
    assert examine(other, kinds()["alias_record"], w).outcome.action == "foreign"
    rec = recorded(ctx, "dns.alias.a")
    from ecs_cicd.lifecycle import remove

    assert remove(other, kinds()["alias_record"], rec).action == "skip"
    assert any(r["Type"] == "A" for r in records(ctx, zid))


def test_adopt_writes_the_ownership_record(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    ensure_all(ctx, cfg, "alb", "dns.zone")
    lb = ctx.client("elbv2").describe_load_balancers(
        LoadBalancerArns=[recorded(ctx, "alb").physical_id]
    )["LoadBalancers"][0]
    write(
        ctx,
        zid,
        "CREATE",
        {
            "Name": f"{DOMAIN}.",
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": lb["CanonicalHostedZoneId"],
                "DNSName": lb["DNSName"],
                "EvaluateTargetHealth": True,
            },
        },
    )
    ctx.adopt = frozenset({"dns.alias.a"})
    assert ensure(ctx, cfg, "dns.alias.a").action == "take"
    ctx.adopt = frozenset()
    assert plan(ctx, cfg, "dns.alias.a").action == "unchanged"
    assert (f"_ecs-cicd-a.{DOMAIN}.", "TXT") in {(r["Name"], r["Type"]) for r in records(ctx, zid)}


# --- crash safety and lost state ---------------------------------------------------------------
def test_crash_after_request_certificate_finds_it_again(ctx: Ctx, cfg: Config) -> None:
    zone(ctx)
    ensure_all(ctx, cfg, "acm.certificate")
    arn = recorded(ctx, "acm.certificate").physical_id
    ctx.state.remove("acm.certificate")  # the crash: RequestCertificate returned, not recorded
    out = plan(ctx, cfg, "acm.certificate")
    assert (out.action, out.physical_id) == ("adopt", arn)
    ensure(ctx, cfg, "acm.certificate")
    assert [c["CertificateArn"] for c in certificates(ctx)] == [arn]
    assert recorded(ctx, "acm.certificate").physical_id == arn


def test_someone_elses_certificate_for_the_name_is_not_ours(ctx: Ctx, cfg: Config) -> None:
    zone(ctx)
    theirs = ctx.client("acm").request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")
    ensure_all(ctx, cfg, "acm.certificate")
    ours = recorded(ctx, "acm.certificate").physical_id
    assert ours != theirs["CertificateArn"] and len(certificates(ctx)) == 2


def test_crash_after_record_change_finds_it_again(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    ensure_all(ctx, cfg, "dns.validation", "dns.alias.a")
    after = records(ctx, zid)
    for lid in ("dns.validation", "dns.alias.a"):
        ctx.state.remove(lid)  # the crash: ChangeResourceRecordSets returned, not recorded
        assert plan(ctx, cfg, lid).action == "adopt", lid
        assert ensure(ctx, cfg, lid).action == "adopt"
    assert records(ctx, zid) == after  # nothing written twice


def test_listener_retries_a_certificate_elbv2_does_not_see_yet(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = issued_certificate(ctx, DOMAIN)
    cfg = config_with(domain={"name": DOMAIN}, load_balancer__certificate_arn=arn)
    ensure_all(ctx, cfg, "alb", "tg.main")
    lag = client_error("CertificateNotFound", f"Certificate '{arn}' not found", "CreateListener")
    calls = inject(monkeypatch, ctx.client("elbv2"), "create_listener", [lag, lag])
    assert ensure(ctx, cfg, "listener.https").action == "create"
    assert len(calls) == 3


def test_blue_green_routes_production_through_the_https_listener() -> None:
    cfg = config_with(
        domain={"name": DOMAIN},
        pipeline__deploy={"strategy": "blue_green", "blue_green": {"test_listener_port": 8080}},
    )
    stack = stack_of(cfg)
    group = stack.get("codedeploy.group")
    assert group.production_listener is stack.get("listener.https")  # type: ignore[attr-defined]


# --- drift -------------------------------------------------------------------------------------
def test_alias_deleted_by_hand_is_written_again_beside_its_ownership_record(
    ctx: Ctx, cfg: Config
) -> None:
    zid = zone(ctx)
    ensure_all(ctx, cfg, "dns.alias.a")
    written = records(ctx, zid)
    [alias] = [r for r in written if r["Type"] == "A"]
    write(ctx, zid, "DELETE", alias)  # by hand; our ownership record stays
    assert plan(ctx, cfg, "dns.alias.a").action == "create"
    assert ensure(ctx, cfg, "dns.alias.a").action == "create"
    assert records(ctx, zid) == written


def test_alias_changed_by_hand_is_put_back(ctx: Ctx, cfg: Config) -> None:
    zid = zone(ctx)
    ensure_all(ctx, cfg, "dns.alias.a")
    written = records(ctx, zid)
    [alias] = [r for r in written if r["Type"] == "A"]
    moved = {
        **alias,
        "AliasTarget": {**alias["AliasTarget"], "DNSName": "elsewhere.elb.amazonaws.com."},
    }
    write(ctx, zid, "UPSERT", moved)
    out = plan(ctx, cfg, "dns.alias.a")
    assert out.action == "update" and "elsewhere" in out.changes[0]
    ensure(ctx, cfg, "dns.alias.a")
    assert records(ctx, zid) == written
