"""The support console's Terraform (modules/ecs/console.tf), read from the HCL: an HTTPS
listener whose /console* rule signs people in with the company's OIDC provider before
forwarding, nothing of it unless ``console`` is set, and the tasks told which load
balancer's signature to believe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.terraform import stack
from tests.infra.terraform_cli import Plan

# The first test to wait for the session's plans (alphabetically, this file's) waits as long
# as they take, like the other plan tests: on a loaded machine more than the suite's 120 s.
pytestmark = pytest.mark.timeout(1800)

CONSOLE_RESOURCES = {
    ("data", "aws_secretsmanager_secret_version", "console_oidc"),
    ("resource", "aws_lb_listener", "console"),
    ("resource", "aws_lb_listener_rule", "console"),
    ("resource", "aws_vpc_security_group_ingress_rule", "alb_console"),
    ("resource", "aws_vpc_security_group_egress_rule", "alb_to_oidc_provider"),
}


def console_blocks() -> dict[tuple[str, str, str], dict[str, Any]]:
    parsed = stack()["ecs"].files["console.tf"]
    found = {}
    for kind in ("resource", "data"):
        for block in parsed.get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    found[(kind, type_, name)] = body
    return found


def test_the_console_is_its_own_file_and_off_unless_configured() -> None:
    blocks = console_blocks()
    assert set(blocks) == CONSOLE_RESOURCES
    for key, body in blocks.items():
        gate = str(body.get("count", body.get("for_each", "")))
        # console_sources is empty unless console_enabled (console.tf's locals)
        gated = "local.console_enabled" in gate or gate == "${local.console_sources}"
        assert gated, f"{key} exists even without var.console"
    sources = stack()["ecs"].locals["console_sources"]
    assert str(sources).startswith("${local.console_enabled ?")
    (variable,) = [stack()["ecs"].variables["console"]]
    assert variable["default"] is None
    assert stack().root.variables["console"]["default"] is None
    assert stack().call_of("ecs")["console"] == "${var.console}"


def test_an_https_listener_with_the_certificate_serves_only_the_console() -> None:
    listener = console_blocks()[("resource", "aws_lb_listener", "console")]
    assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
    assert listener["certificate_arn"] == "${var.console.certificate_arn}"
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    (default,) = listener["default_action"]
    assert default["type"] == "fixed-response"
    assert default["fixed_response"][0]["status_code"] == "404"


def test_the_console_rule_authenticates_with_oidc_then_forwards() -> None:
    rule = console_blocks()[("resource", "aws_lb_listener_rule", "console")]
    (condition,) = rule["condition"]
    assert condition["path_pattern"][0]["values"] == ["/console", "/console/*"]
    first, second = sorted(rule["action"], key=lambda a: a["order"])
    assert first["type"] == "authenticate-oidc"
    (oidc,) = first["authenticate_oidc"]
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint"):
        assert oidc[name] == f"${{var.console.{name}}}"
    assert oidc["client_id"] == "${var.console.client_id}"
    secret = "${data.aws_secretsmanager_secret_version.console_oidc[0].secret_string}"
    assert oidc["client_secret"] == secret
    secret_source = console_blocks()[("data", "aws_secretsmanager_secret_version", "console_oidc")]
    assert secret_source["secret_id"] == "${var.console.client_secret_arn}"
    assert second["type"] == "forward"
    assert second["target_group_arn"] == "${aws_lb_target_group.this.arn}"


def test_the_query_lambdas_listener_is_untouched() -> None:
    http = stack()["ecs"].resource("aws_lb_listener", "http")
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    (action,) = http["default_action"]
    assert action["type"] == "forward"


def test_the_tasks_verify_this_load_balancers_signature() -> None:
    container = stack()["ecs"].locals["container"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["CONSOLE_AUTH"] == "alb"
    assert env["CONSOLE_ALB_ARN"] == "${aws_lb.this.arn}"


CONSOLE_TYPES = {"aws_lb_listener", "aws_lb_listener_rule", "aws_vpc_security_group_ingress_rule"}


def _console_resources(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        r.address: r.values
        for r in plan.resources.values()
        if r.type in CONSOLE_TYPES and "console" in r.address
    }


def test_planned_off_the_console_does_not_exist(plan: Plan) -> None:
    assert _console_resources(plan) == {}


def test_planned_on_the_console_is_an_oidc_rule_reached_from_the_named_networks(
    second_plan: Plan,
) -> None:
    planned = _console_resources(second_plan)
    listener = second_plan.one("aws_lb_listener", "module.ecs", "console").values
    assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
    rule = second_plan.one("aws_lb_listener_rule", "module.ecs", "console").values
    oidc = next(a for a in rule["action"] if a["type"] == "authenticate-oidc")
    (settings,) = oidc["authenticate_oidc"]
    assert settings["client_secret"] == "plan-client-secret"  # read from Secrets Manager
    assert settings["issuer"] == "https://login.example.com"
    ingress = [v for a, v in planned.items() if "ingress_rule" in a]
    assert len(ingress) == 2
    for rule_values in ingress:
        assert rule_values["from_port"] == rule_values["to_port"] == 443
        assert not rule_values.get("cidr_ipv4") and not rule_values.get("cidr_ipv6")
    sources = {v.get("referenced_security_group_id") or v.get("prefix_list_id") for v in ingress}
    assert {s[:3] for s in sources} == {"sg-", "pl-"}
