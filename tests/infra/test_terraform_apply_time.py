"""What only ``terraform apply`` in an AWS account would meet (issue 11, item 4): one test
per class of defect found, on the plan where it shows values, on the HCL where it does not.
Rule descriptions and account-global names are test_terraform_plan.py's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.terraform import ROOT, stack, statements
from tests.infra.terraform_cli import Plan

pytestmark = pytest.mark.timeout(1800)

# Trust-policy condition keys each service documents for the role it assumes. The ECS
# documentation recommends aws:SourceAccount / aws:SourceArn for the task role; Lambda's
# execution role, ECS's task execution role and API Gateway's CloudWatch role are
# documented without conditions, and a condition on a key the service does not send
# makes the assume fail (the role is never usable).
DOCUMENTED_TRUST_CONDITIONS: dict[tuple[str, str], set[str]] = {
    ("ecs", "assume_ecs_task"): {"aws:SourceAccount", "aws:SourceArn"},
}


def trust_policies() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, module in stack().modules.items():
        used = {
            role["assume_role_policy"]
            .removeprefix("${data.aws_iam_policy_document.")
            .removesuffix(".json}")
            for role in module.of_type("aws_iam_role").values()
        }
        for doc_name in sorted(used):
            found.append((name, doc_name, module.data["aws_iam_policy_document"][doc_name]))
    return found


def test_trust_policies_carry_only_documented_conditions() -> None:
    policies = trust_policies()
    assert {(m, d) for m, d, _ in policies} >= {
        ("lambdas", "assume_lambda"),
        ("ecs", "assume_ecs_task"),
        ("ecs", "assume_ecs_execution"),
        (ROOT, "assume_apigateway"),
    }
    for module, doc_name, doc in policies:
        keys = {c["variable"] for s in statements(doc) for c in s.get("condition", [])}
        allowed = DOCUMENTED_TRUST_CONDITIONS.get((module, doc_name), set())
        assert keys <= allowed, f"{module}.{doc_name}: undocumented {sorted(keys - allowed)}"
    (task,) = statements(stack()["ecs"].data["aws_iam_policy_document"]["assume_ecs_task"])
    assert {c["variable"] for c in task["condition"]} == {"aws:SourceAccount", "aws:SourceArn"}


def _functions(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.index: r.values for r in plan.of_type("aws_lambda_function")}


def test_reserved_concurrency_is_opt_in(plan: Plan) -> None:
    assert stack().root.variables["lambda_reserved_concurrency"]["default"] == {}
    assert stack()["lambdas"].variables["reserved_concurrency"]["default"] == {}
    for key, function in _functions(plan).items():
        assert function["reserved_concurrent_executions"] == -1, f"{key} reserves concurrency"


def test_only_query_entry_is_attached_to_the_vpc(plan: Plan) -> None:
    """It calls the internal ALB; the other two call only AWS APIs (DynamoDB, SSM)."""
    attached = {key for key, f in _functions(plan).items() if f["vpc_config"]}
    assert attached == {"query_entry"}
    groups = [r for r in plan.of_type("aws_security_group") if r.module == "module.lambdas"]
    assert [g.name for g in groups] == ["query_entry"]


def test_execute_api_endpoint_keeps_private_dns_off_and_the_url_names_the_endpoint(
    plan: Plan,
) -> None:
    endpoint = plan.one("aws_vpc_endpoint", "module.api_internal").values
    assert endpoint["private_dns_enabled"] is False
    assert stack().root.variables["execute_api_private_dns_enabled"]["default"] is False
    url = stack()["api_internal"].locals["invoke_url"]
    # https://{rest-api-id}-{vpce-id}.execute-api.{region}.amazonaws.com/{stage}: the
    # Route 53 alias API Gateway keeps for an API associated with the endpoint.
    assert (
        "https://${aws_api_gateway_rest_api.this.id}-${aws_vpc_endpoint.execute_api.id}"
        ".execute-api.${var.region}.amazonaws.com/${module.deployment.stage_name}"
    ) in url
    api = plan.one("aws_api_gateway_rest_api", "module.api_internal")
    assert api.unknown["endpoint_configuration"][0]["vpc_endpoint_ids"], "associated"
    assert stack().call_of("ecs")["internal_api_url"] == "${module.api_internal.invoke_url}"


def test_the_regional_api_gateway_account_setting_is_opt_in(plan: Plan) -> None:
    assert stack().root.variables["manage_api_gateway_account"]["default"] is False
    assert plan.of_type("aws_api_gateway_account") == []


def _alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    return {a.values["alarm_name"]: a.values for a in plan.of_type("aws_cloudwatch_metric_alarm")}


def test_no_alarm_starts_in_alarm_before_data_arrives(plan: Plan) -> None:
    alarms = _alarms(plan)
    assert len(alarms) >= 15
    for name, alarm in alarms.items():
        assert alarm["treat_missing_data"] in {"notBreaching", "missing"}, name


def test_alarms_sit_above_the_autoscaling_targets(plan: Plan) -> None:
    alarms = _alarms(plan)
    targets = {}
    for policy in plan.of_type("aws_appautoscaling_policy"):
        (config,) = policy.values["target_tracking_scaling_policy_configuration"]
        (metric,) = config["predefined_metric_specification"]
        targets[metric["predefined_metric_type"]] = config["target_value"]
    assert targets["ECSServiceAverageCPUUtilization"] < alarms["ECS-HighCPU"]["threshold"]
    assert targets["ECSServiceAverageMemoryUtilization"] < alarms["ECS-HighMemory"]["threshold"]


def test_snap_start_on_published_versions_behind_the_live_alias(plan: Plan) -> None:
    for key, function in _functions(plan).items():
        assert function["publish"] is True, key
        assert function["snap_start"] == [{"apply_on": "PublishedVersions"}], key
    aliases = {a.index: a.values for a in plan.of_type("aws_lambda_alias")}
    assert set(aliases) == set(_functions(plan))
    assert {a["name"] for a in aliases.values()} == {"live"}
    assert stack().root.variables["lambda_snap_start"]["default"] is True


def test_integrations_permissions_and_the_stream_mapping_call_the_alias(plan: Plan) -> None:
    outputs = stack()["lambdas"].outputs
    for name in ("query_entry_invoke_arn", "query_result_invoke_arn"):
        assert outputs[name]["value"].startswith("${aws_lambda_alias.live["), name
    mapping = stack()["lambdas"].resource("aws_lambda_event_source_mapping", "command_stream")
    assert mapping["function_name"] == '${aws_lambda_alias.live["stream_processor"].arn}'
    permissions = plan.of_type("aws_lambda_permission")
    assert len(permissions) == 2
    assert {p.values["qualifier"] for p in permissions} == {"live"}
