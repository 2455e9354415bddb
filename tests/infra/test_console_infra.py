"""The support console's Terraform (modules/ecs/console.tf), read from the HCL: an HTTPS
listener whose /console* rule signs people in with the company's OIDC provider before
forwarding, nothing of it unless ``console`` is set, and the tasks told which load
balancer's signature to believe."""

from __future__ import annotations

from typing import Any

from tests.infra.terraform import stack

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
        assert "local.console_enabled" in gate, f"{key} exists even without var.console"
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
