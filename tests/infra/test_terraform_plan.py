"""infra/terraform through a real Terraform: fmt, init from the mirror, validate, and a plan
of envs/example.tfvars against moto, read from ``terraform show -json``.

What the plan knows is asserted here with the brief's values (MISSION items 1, 2, 9). What
it cannot know before apply (the container definitions and the Query Lambda's environment
embed URLs AWS assigns) is checked on the HCL in test_terraform_brief.py.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import SECOND_ENVIRONMENT, Session
from tests.infra.terraform import TERRAFORM, stack
from tests.infra.terraform_cli import (
    ENDPOINTS,
    LOCAL_ONLY,
    Plan,
    Resource,
    Terraform,
    security_group_description_problems,
    shared_global_names,
)

# The first use of a run waits for init and the plans (a minute or two on a loaded machine).
# The cost is the Terraform session's, which every infra file shares.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.cost(120)]


def test_fmt_leaves_every_file_as_it_is(tmp_path_factory: pytest.TempPathFactory) -> None:
    result = Terraform.create(tmp_path_factory.mktemp("fmt")).fmt_check()
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_validate(terraform_session: Session) -> None:
    terraform_session.result("validate")  # raises with the diagnostics, file by file


def test_init_installs_from_the_mirror_what_the_committed_lock_file_pins(
    terraform_session: Session,
) -> None:
    terraform_session.result("validate")
    terraform = terraform_session.terraform
    installed = sorted((terraform.home / "data" / "providers").glob("*/hashicorp/aws/*/*"))
    assert installed, "init installed no AWS provider"
    if terraform.mirror is not None:
        for path in installed:
            assert path.resolve().is_relative_to(terraform.mirror.resolve()), path
    lock = (TERRAFORM / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert 'constraints = "~> 5.100"' in lock
    assert "random" not in lock, "only providers the mirror holds"
    # init ran with -lockfile=readonly: it left the copy's lock file as committed.
    assert (terraform.home / "main" / ".terraform.lock.hcl").read_text() == lock


def test_plan_creates_everything_and_changes_nothing(plan: Plan) -> None:
    assert plan.actions() <= {"create", "read", "no-op"}
    assert len(plan) >= 100


def test_every_resource_type_has_its_endpoint_at_moto(plan: Plan) -> None:
    types = {r.type for r in plan.resources.values()}
    types |= {d["type"] for d in _data_sources(plan)}
    prefixes = tuple(p for ps in ENDPOINTS.values() for p in ps)
    unmatched = {
        t
        for t in types
        if not t.startswith(prefixes) and t not in LOCAL_ONLY and t != "aws_iam_policy_document"
    }
    assert not unmatched, f"add the endpoint these call to ENDPOINTS: {sorted(unmatched)}"


def _data_sources(plan: Plan) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []

    def walk(module: dict[str, object]) -> None:
        found.extend(r for r in module.get("resources", []) if r["mode"] == "data")  # type: ignore[attr-defined, index]
        for child in module.get("module_calls", {}).values():  # type: ignore[attr-defined]
            walk(child["module"])

    walk(plan.data["configuration"]["root_module"])
    return found


# --------------------------------------------------------------------------------------
# Apply-time checks on the planned values
# --------------------------------------------------------------------------------------


def test_security_group_and_rule_descriptions_use_only_what_ec2_accepts(plan: Plan) -> None:
    assert plan.of_type("aws_vpc_security_group_ingress_rule")
    assert security_group_description_problems(plan) == []


def test_a_second_environment_shares_no_account_global_name(plan: Plan, second_plan: Plan) -> None:
    assert second_plan.one("aws_ssm_parameter", "module.lambdas").values["name"] == (
        f"/query-service/{SECOND_ENVIRONMENT}/cursor-secret"
    )
    assert shared_global_names(plan, second_plan) == []


def test_global_names_fit_their_limits(plan: Plan) -> None:
    for role in plan.of_type("aws_iam_role"):
        assert len(role.values["name"]) <= 64, role.address
    for bucket in plan.of_type("aws_s3_bucket"):
        assert len(bucket.values["bucket"]) <= 63, bucket.address


# --------------------------------------------------------------------------------------
# The brief's values (MISSION items 1, 2, 9)
# --------------------------------------------------------------------------------------


def test_cluster_service_and_task_definition(plan: Plan) -> None:
    cluster = plan.one("aws_ecs_cluster", "module.ecs").values
    assert cluster["name"] == "query-service-cluster"
    providers = plan.one("aws_ecs_cluster_capacity_providers", "module.ecs").values
    assert providers["capacity_providers"] == ["FARGATE"]

    task = plan.one("aws_ecs_task_definition", "module.ecs", "this").values
    assert task["family"] == "query-service"
    assert task["network_mode"] == "awsvpc"
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert task["runtime_platform"] == [
        {"cpu_architecture": "X86_64", "operating_system_family": "LINUX"}
    ]

    service = plan.one("aws_ecs_service", "module.ecs").values
    assert service["name"] == "query-service"
    assert service["desired_count"] == 2
    (network,) = service["network_configuration"]
    assert network["assign_public_ip"] is False
    assert network["subnets"] == sorted(network["subnets"]) and len(network["subnets"]) == 2
    (lb,) = service["load_balancer"]
    assert (lb["container_name"], lb["container_port"]) == ("ecs-handler", 8000)

    group = plan.one("aws_lb_target_group", "module.ecs").values
    assert (group["port"], group["protocol"], group["target_type"]) == (8000, "HTTP", "ip")
    assert plan.one("aws_lb", "module.ecs").values["internal"] is True


def test_operations_task_definition_and_its_network_as_outputs(plan: Plan) -> None:
    """The one-off task (backfill, dlq replay): the service's image under its own family,
    started by `aws ecs run-task` with what the outputs give (docs/operations.md)."""
    task = plan.one("aws_ecs_task_definition", "module.ecs", "operations").values
    assert task["family"] == "query-service-operations"
    assert task["network_mode"] == "awsvpc"
    assert task["requires_compatibilities"] == ["FARGATE"]
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    assert [v["name"] for v in task["volume"]] == ["tmp"]
    group = plan.one("aws_security_group", "module.ecs", "operations").values
    assert group["name"] == "query-service-operations"
    role = plan.one("aws_iam_role", "module.ecs", "operations").values
    assert role["name"].endswith("-ecs-operations")
    assert plan.one("aws_iam_role_policy", "module.ecs", "operations").values["name"] == (
        "backfill-and-replay"
    )
    outputs = plan.data["planned_values"]["outputs"]
    for name in (
        "operations_task_definition_arn",
        "operations_network_configuration",
        "operations_security_group_id",
        "stream_dlq_url",
    ):
        assert name in outputs, name  # known after apply
    subnets = plan.outputs()["operations_subnet_ids"]
    service = plan.one("aws_ecs_service", "module.ecs").values
    assert sorted(subnets) == service["network_configuration"][0]["subnets"]  # a set there


def test_container_logs_go_to_the_briefs_group(plan: Plan) -> None:
    groups = {g.values.get("name") for g in plan.of_type("aws_cloudwatch_log_group")}
    assert "/ecs/query-service" in groups
    assert plan.outputs()["ecs_log_group_name"] == "/ecs/query-service"


def _functions(plan: Plan) -> dict[str, Resource]:
    return {r.index: r for r in plan.of_type("aws_lambda_function")}


def test_three_functions_on_python_3_12(plan: Plan) -> None:
    functions = _functions(plan)
    assert set(functions) == {"query_entry", "query_result", "stream_processor"}
    for key, function in functions.items():
        values = function.values
        assert values["function_name"] == f"query-service-{key.replace('_', '-')}"
        assert values["handler"] == f"query_service.lambdas.{key}.lambda_handler"
        assert (values["runtime"], values["architectures"]) == ("python3.12", ["x86_64"])
        assert values["tracing_config"] == [{"mode": "Active"}]
    assert functions["query_entry"].values["timeout"] == 15  # REQUEST_TIMEOUT 10 s + slack


def test_query_result_reads_its_cursor_keys_from_the_parameter(plan: Plan) -> None:
    (env,) = _functions(plan)["query_result"].values["environment"]
    variables = env["variables"]
    assert variables["ENVIRONMENT"] == "production"
    assert variables["CURSOR_SECRET_PARAMETER"] == "/query-service/prod/cursor-secret"
    assert "CURSOR_SECRET" not in variables
    parameter = plan.one("aws_ssm_parameter", "module.lambdas").values
    assert parameter["type"] == "SecureString"
    assert parameter.get("value_wo") is None, "a write-only value is in no plan"


def test_private_api_behind_its_vpc_endpoint(plan: Plan) -> None:
    api = plan.one("aws_api_gateway_rest_api", "module.api_internal").values
    assert api["endpoint_configuration"][0]["types"] == ["PRIVATE"]
    endpoint = plan.one("aws_vpc_endpoint", "module.api_internal").values
    assert endpoint["service_name"] == "com.amazonaws.ap-southeast-1.execute-api"
    assert endpoint["vpc_endpoint_type"] == "Interface"
    stages = {s.module: s.values["stage_name"] for s in plan.of_type("aws_api_gateway_stage")}
    assert stages == {
        "module.api_internal.module.deployment": "v1",
        "module.api_public.module.deployment": "v1",
    }


def test_ecs_high_cpu_alarm(plan: Plan) -> None:
    alarms = {a.values["alarm_name"]: a.values for a in plan.of_type("aws_cloudwatch_metric_alarm")}
    cpu = alarms["ECS-HighCPU"]
    assert (cpu["namespace"], cpu["metric_name"], cpu["statistic"]) == (
        "AWS/ECS",
        "CPUUtilization",
        "Average",
    )
    assert (cpu["period"], cpu["evaluation_periods"], cpu["threshold"]) == (300, 2, 70)
    assert cpu["comparison_operator"] == "GreaterThanThreshold"
    assert cpu["dimensions"] == {
        "ClusterName": "query-service-cluster",
        "ServiceName": "query-service",
    }
    memory = alarms["ECS-HighMemory"]
    assert (memory["metric_name"], memory["threshold"]) == ("MemoryUtilization", 80)


def test_latency_error_rate_projection_and_function_alarms(plan: Plan) -> None:
    alarms = {a.values["alarm_name"]: a.values for a in plan.of_type("aws_cloudwatch_metric_alarm")}
    for alarm in alarms.values():
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
    latency = alarms["ALB-HighLatencyP99"]
    assert (latency["metric_name"], latency["extended_statistic"], latency["threshold"]) == (
        "TargetResponseTime",
        "p99",
        0.1,
    )
    rate = alarms["ALB-5XXRate"]
    assert rate["threshold"] == 1
    queries = {q["id"]: q for q in rate["metric_query"]}
    (returned,) = [q for q in queries.values() if q["return_data"]]
    assert "100 *" in returned["expression"] and "/ requests" in returned["expression"]
    metrics = {q["metric"][0]["metric_name"] for q in queries.values() if q["metric"]}
    assert metrics == {"RequestCount", "HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count"}
    assert alarms["API-5XXRate"]["threshold"] == 0.01
    assert alarms["Stream-IteratorAge"]["statistic"] == "Maximum"
    dlq = alarms["Stream-DLQ-NotEmpty"]
    assert (dlq["namespace"], dlq["threshold"]) == ("AWS/SQS", 0)
    for function in ("query_entry", "query_result", "stream_processor"):
        for metric in ("Errors", "Throttles"):
            alarm = alarms[f"Lambda-{metric}-{function}"]
            assert alarm["dimensions"] == {
                "FunctionName": f"query-service-{function.replace('_', '-')}"
            }
    for table in ("command", "notification"):
        assert f"DynamoDB-Throttles-{table}" in alarms


def test_powertools_layer_comes_from_the_public_parameter(plan: Plan) -> None:
    version = stack().root.variables["powertools_version"]["default"]
    assert version
    for function in _functions(plan).values():
        (layer,) = function.values["layers"]
        assert ":layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:" in layer
