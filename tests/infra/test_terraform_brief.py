"""The brief's numbers (MISSION items 1, 2 and 9; ARCHITECTURE §1, §3, §6) where the plan
cannot show them: the container definition and the functions' environments embed URLs AWS
assigns at apply, so they are read from the HCL with every variable resolved to what the
root gives it. What the plan knows is asserted on the plan (test_terraform_plan.py)."""

from __future__ import annotations

from typing import Any

import pytest

from query_service.local.gateway import INTERNAL, PUBLIC, GatewaySpec
from tests.infra.terraform import stack
from tests.infra.terraform_cli import Plan


def resolved(module: str, type_: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = stack().resolve(module, stack()[module].resource(type_, name))
    return body


# --------------------------------------------------------------------------------------
# ECS (MISSION item 1)
# --------------------------------------------------------------------------------------


def container() -> dict[str, Any]:
    body: dict[str, Any] = stack().resolve("ecs", stack()["ecs"].locals["container"])
    return body


def test_container() -> None:
    c = container()
    assert c["name"] == "ecs-handler"
    assert c["image"] == "${var.image_uri}"
    assert stack().call_of("ecs")["image_uri"] == "${var.image_uri}"
    assert [(p["containerPort"], p["protocol"]) for p in c["portMappings"]] == [(8000, "tcp")]
    assert c["readonlyRootFilesystem"] is True
    assert c["privileged"] is False
    uid = c["user"].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "the container must not run as root"
    assert c["healthCheck"]["command"][0] == "CMD"
    assert "/health" in c["healthCheck"]["command"][-1]
    assert c["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/query-service",
            "awslogs-region": "ap-southeast-1",
            "awslogs-stream-prefix": "ecs",
        },
    }
    log_group = resolved("ecs", "aws_cloudwatch_log_group", "service")
    assert log_group["name"] == "/ecs/query-service"


def test_operations_container_is_the_services_less_the_server() -> None:
    """Built from the service's container (same image, user, read-only root, scratch /tmp),
    less its port and health check, logging to the same group under "operations", with
    the Stream Processor's projection settings and the dead-letter queue."""
    expression = stack()["ecs"].locals["operations_container"]
    assert expression.startswith(
        "${merge({for key, value in local.container : key => value if "
        '!contains(["portMappings", "healthCheck"], key)}'
    )
    assert 'command = ["query-service", "dlq", "list"]' in expression  # a dry run by default
    assert "image" not in expression  # the image (and the rest) is the service's, not a copy
    assert (
        "awslogs-group = local.log_group_name, awslogs-region = var.region, "
        'awslogs-stream-prefix = "operations"'
    ) in expression
    assert "merge(var.operations.environment, {" in expression
    assert "STREAM_DLQ_URL = var.operations.dead_letter_queue_url" in expression
    assert 'QUERY_SERVICE_STATE_DIR = "/tmp/query-service"' in expression
    assert {m["containerPath"] for m in container()["mountPoints"]} == {"/tmp"}
    sp = stack()["lambdas"].outputs["projection_environment"]["value"]
    assert "local.functions.stream_processor.environment" in sp
    assert resolved("ecs", "aws_ecs_task_definition", "operations")["container_definitions"] == (
        "${jsonencode([local.operations_container])}"
    )


def test_container_environment() -> None:
    env = {e["name"]: e["value"] for e in container()["environment"]}
    assert env["ENVIRONMENT"] == "production"
    assert env["INTERNAL_API_URL"] == "${module.api_internal.invoke_url}"
    assert env["INTERNAL_API_AUTH"] == "iam"
    assert env["REQUEST_TIMEOUT"] == "30"
    assert env["AWS_DEFAULT_REGION"] == "ap-southeast-1"
    assert all(isinstance(v, str) for v in env.values()), "ECS wants string values"


def test_autoscaling_on_cpu_60_and_memory_70_with_at_least_two_tasks(plan: Plan) -> None:
    (target,) = plan.of_type("aws_appautoscaling_target")
    assert target.values["min_capacity"] == 2
    assert target.values["max_capacity"] >= 2
    targets = {}
    for policy in plan.of_type("aws_appautoscaling_policy"):
        assert policy.values["policy_type"] == "TargetTrackingScaling"
        (config,) = policy.values["target_tracking_scaling_policy_configuration"]
        (metric,) = config["predefined_metric_specification"]
        targets[metric["predefined_metric_type"]] = config["target_value"]
    # Below the brief's alarm thresholds (70 %, 80 %): the alarms mean scaling cannot keep up.
    assert targets == {
        "ECSServiceAverageCPUUtilization": 60,
        "ECSServiceAverageMemoryUtilization": 70,
    }


# --------------------------------------------------------------------------------------
# Lambdas (ARCHITECTURE §1, §6)
# --------------------------------------------------------------------------------------

HANDLERS = {
    "query_entry": "query_service.lambdas.query_entry.lambda_handler",
    "query_result": "query_service.lambdas.query_result.lambda_handler",
    "stream_processor": "query_service.lambdas.stream_processor.lambda_handler",
}


def functions() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack().resolve(
        "lambdas", stack()["lambdas"].locals["functions"]
    )
    return found


def test_three_functions_with_their_handlers_and_zips() -> None:
    found = functions()
    assert {k: f["handler"] for k, f in found.items()} == HANDLERS
    for key, function in found.items():
        assert function["package"].endswith(f"/{key}.zip")
    assert stack()["lambdas"].locals["functions"]["query_entry"]["package"] == (
        "${var.package_dir}/query_entry.zip"
    )
    assert stack().call_of("lambdas")["package_dir"] == "${local.package_dir}"
    fn = resolved("lambdas", "aws_lambda_function", "this")
    assert fn["runtime"] == "python3.12"
    assert fn["architectures"] == ["x86_64"]
    assert fn["tracing_config"] == [{"mode": "Active"}]
    (layer,) = fn["layers"]
    assert "data.aws_ssm_parameter.powertools_layer" in layer
    ssm = stack().root.data["aws_ssm_parameter"]["powertools_layer"]["name"]
    assert ssm == "/aws/service/powertools/python/x86_64/python3.12/${var.powertools_version}"
    assert fn["source_code_hash"] == "${filebase64sha256(each.value.package)}"
    assert stack().call_of("lambdas")["powertools_layer_arn"] == "${local.powertools_layer_arn}"


def test_function_environment_per_architecture_section_6() -> None:
    env = {key: f["environment"] for key, f in functions().items()}
    for variables in env.values():
        assert variables["ENVIRONMENT"] == "production"
        assert "AWS_DEFAULT_REGION" not in variables, "reserved: the runtime sets it"
        assert "DYNAMODB_ENDPOINT_URL" not in variables, "local only"
    # The Query Lambda reaches the ECS service through the internal ALB's DNS name.
    assert env["query_entry"]["ECS_HANDLER_URL"] == "http://${module.ecs.alb_dns_name}"
    assert env["query_entry"]["REQUEST_TIMEOUT"] == "10"
    assert "EKS_HANDLER_URL" not in env["query_entry"]
    for key in ("query_result", "stream_processor"):
        assert env[key]["NOTIFICATION_TABLE_NAME"] == ("${module.dynamodb.notification_table_name}")
    assert env["query_result"]["CURSOR_SECRET_PARAMETER"] == (
        "${aws_ssm_parameter.cursor_secret.name}"
    )


def test_query_entry_answers_before_the_public_api_gives_up() -> None:
    timeout = functions()["query_entry"]["timeout"]
    # "${var.query_entry_request_timeout + 5}": REQUEST_TIMEOUT 10 s plus slack, < 29 s.
    assert timeout == "${var.query_entry_request_timeout + 5}"
    assert stack()["lambdas"].variables["query_entry_request_timeout"]["default"] + 5 < 29


def test_log_groups_of_the_functions_keep_a_year() -> None:
    group = resolved("lambdas", "aws_cloudwatch_log_group", "this")
    assert group["name"] == "/aws/lambda/${each.value.name}"
    assert group["retention_in_days"] == 365


def test_stream_mapping_reports_partial_failures_and_keeps_what_fails() -> None:
    mapping = resolved("lambdas", "aws_lambda_event_source_mapping", "command_stream")
    assert mapping["event_source_arn"] == "${module.dynamodb.command_table_stream_arn}"
    assert mapping["function_name"] == '${aws_lambda_alias.live["stream_processor"].arn}'
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    assert 0 < mapping["maximum_retry_attempts"] <= 10
    assert 1 <= mapping["batch_size"] <= 1000
    (destination,) = mapping["destination_config"]
    assert destination["on_failure"] == [{"destination_arn": "${aws_sqs_queue.stream_dlq.arn}"}]


# --------------------------------------------------------------------------------------
# APIs (ARCHITECTURE §3, §4): the same resources as the local gateways
# --------------------------------------------------------------------------------------


def _api_routes(module: str) -> set[tuple[str, str]]:
    """(method, path) of every method of a REST API module, paths built from resources."""
    api = stack()[module]
    parts = {
        name: (r["parent_id"], r["path_part"])
        for name, r in api.of_type("aws_api_gateway_resource").items()
    }

    def path(resource_ref: str) -> str:
        if resource_ref == "${aws_api_gateway_rest_api.this.root_resource_id}":
            return "/"
        name = resource_ref.removeprefix("${aws_api_gateway_resource.").removesuffix(".id}")
        parent, part = parts[name]
        return f"{path(parent).rstrip('/')}/{part}"

    # The methods are the shared module's, one per route the API module passes it.
    assert api.calls["deployment"]["routes"] == "${local.routes}"
    routes = api.locals["routes"].values()
    return {(r["http_method"], path(r["resource_id"])) for r in routes}


@pytest.mark.parametrize(("module", "spec"), [("api_public", PUBLIC), ("api_internal", INTERNAL)])
def test_api_resources_are_those_of_the_local_gateway(module: str, spec: GatewaySpec) -> None:
    assert _api_routes(module) == {(r.method, r.path) for r in spec.resources}


def test_public_api_is_regional_throttled_and_proxies_to_query_entry() -> None:
    api = stack()["api_public"]
    (config,) = api.resource("aws_api_gateway_rest_api", "this")["endpoint_configuration"]
    assert config["types"] == ["REGIONAL"]
    assert api.calls["deployment"]["lambda_invoke_arn"] == "${var.lambda_invoke_arn}"
    assert {r["authorization"] for r in api.locals["routes"].values()} == {"NONE"}
    call = stack().call_of("api_public")
    assert call["lambda_invoke_arn"] == "${module.lambdas.query_entry_invoke_arn}"
    stage = stack().resolve("api_public", api.calls["deployment"])
    assert stage["stage_name"] == "v1"
    assert (stage["throttle_rate_limit"], stage["throttle_burst_limit"]) == (200, 400)
    association = api.resource("aws_wafv2_web_acl_association", "stage")
    assert association["resource_arn"] == "${module.deployment.stage_arn}"


def test_internal_api_throttling_comes_from_variables() -> None:
    stage = stack().resolve("api_internal", stack()["api_internal"].calls["deployment"])
    assert (stage["throttle_rate_limit"], stage["throttle_burst_limit"]) == (1000, 2000)
    settings = stack()["api_deployment"].resource("aws_api_gateway_method_settings", "all")
    (values,) = settings["settings"]
    assert values["throttling_rate_limit"] == "${var.throttle_rate_limit}"
    assert values["throttling_burst_limit"] == "${var.throttle_burst_limit}"


# --------------------------------------------------------------------------------------
# Monitoring (MISSION item 9)
# --------------------------------------------------------------------------------------


def test_alarms_are_one_for_each_over_a_map() -> None:
    monitoring = stack()["monitoring"]
    assert set(monitoring.of_type("aws_cloudwatch_metric_alarm")) == {"metric", "expression"}
    assert monitoring.resource("aws_cloudwatch_metric_alarm", "metric")["for_each"] == (
        "${local.metric_alarms}"
    )
    assert monitoring.resource("aws_cloudwatch_metric_alarm", "expression")["for_each"] == (
        "${local.expression_alarms}"
    )
    assert stack().call_of("monitoring")["lambda_function_names"] == (
        "${module.lambdas.function_names}"
    )
    assert stack().call_of("monitoring")["dlq_name"] == "${module.lambdas.stream_dlq_name}"


def test_one_dashboard_and_one_topic() -> None:
    monitoring = stack()["monitoring"]
    assert len(monitoring.of_type("aws_cloudwatch_dashboard")) == 1
    assert len(monitoring.of_type("aws_sns_topic")) == 1
