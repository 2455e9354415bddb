"""The security properties issue 4 names, read from the Terraform: the private API bound
to its VPC endpoint, tasks without public IPs, least-privilege IAM, the network path
(public API → Query Lambda → ALB → tasks → endpoint), encryption at rest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.infra.terraform import ROOT, Module, stack, statements, walk_strings

# The only actions IAM cannot scope to a resource that a role here needs.
UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ecr:GetAuthorizationToken",
}
WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$")


def policy_documents() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, module in stack().modules.items():
        for doc_name, doc in module.data.get("aws_iam_policy_document", {}).items():
            yield name, doc_name, doc


def test_every_iam_policy_is_a_policy_document_so_it_can_be_checked() -> None:
    """A jsonencode()d policy would slip past the action checks below."""
    for name, module in stack().modules.items():
        for type_, resources in module.resources.items():
            if type_ == "aws_ecr_lifecycle_policy":
                continue  # not IAM
            for res_name, body in resources.items():
                for attribute in ("policy", "assume_role_policy"):
                    if attribute in body:
                        assert body[attribute].startswith("${data.aws_iam_policy_document."), (
                            f"{name}: {type_}.{res_name}.{attribute} is not a policy document"
                        )


def test_no_policy_grants_a_wildcard_action() -> None:
    documents = list(policy_documents())
    assert len(documents) >= 10
    for module, doc_name, doc in documents:
        for statement in statements(doc):
            assert "not_actions" not in statement, f"{module}.{doc_name}: NotAction"
            for action in statement.get("actions", []):
                assert not WILDCARD_ACTION.match(action), f"{module}.{doc_name}: {action}"


def test_resource_star_only_for_actions_iam_cannot_scope() -> None:
    for module, doc_name, doc in policy_documents():
        if (module, doc_name) == (ROOT, "kms"):
            continue  # a key policy's "*" is the key itself
        for statement in statements(doc):
            resources = statement.get("resources", [])
            if (
                isinstance(resources, list)
                and "*" in resources
                and statement.get("effect") != "Deny"
            ):
                extra = set(statement["actions"]) - UNSCOPABLE_ACTIONS
                assert not extra, f"{module}.{doc_name}: {sorted(extra)} on *"


def _grants(module: str, doc_name: str) -> dict[str, list[str]]:
    """action -> resources, over the Allow statements of one policy document."""
    doc = stack()[module].data["aws_iam_policy_document"][doc_name]
    grants: dict[str, list[str]] = {}
    for statement in statements(doc):
        if statement.get("effect", "Allow") == "Allow":
            resources = statement["resources"]
            for action in statement["actions"]:
                grants.setdefault(action, []).extend(
                    [resources] if isinstance(resources, str) else resources
                )
    return grants


def test_query_result_may_only_query_the_read_table_and_its_query_indexes() -> None:
    grants = _grants("lambdas", "query_result")
    dynamodb = {a: r for a, r in grants.items() if a.startswith("dynamodb:")}
    assert dynamodb == {
        "dynamodb:Query": [
            "${concat([var.notification_table_arn], var.notification_query_index_arns)}"
        ],
        "dynamodb:BatchGetItem": ["${var.stats_table_arn}"],
    }
    index_arns = stack()["dynamodb"].outputs["notification_query_index_arns"]["value"]
    assert [arn.rsplit("/", 1)[-1] for arn in index_arns] == [
        "transaction_id-index",
        "failures-index",
    ]
    call = stack().call_of("lambdas")
    assert call["notification_table_arn"] == "${module.dynamodb.notification_table_arn}"


def test_stream_processor_reads_the_stream_and_writes_only_the_read_side() -> None:
    grants = _grants("lambdas", "stream_processor")
    for action in ("PutItem", "DeleteItem", "BatchGetItem", "GetItem"):
        assert grants[f"dynamodb:{action}"] == ["${var.notification_table_arn}"], action
    for action in ("GetRecords", "GetShardIterator", "DescribeStream"):
        assert grants[f"dynamodb:{action}"] == ["${var.command_table_arn}/stream/*"]
    assert grants["sqs:SendMessage"] == ["${aws_sqs_queue.stream_dlq.arn}"]
    assert grants["dynamodb:UpdateItem"] == ["${var.stats_table_arn}"]
    items = {a for a in grants if a.startswith("dynamodb:") and "Item" in a}
    reads = {"dynamodb:BatchGetItem", "dynamodb:GetItem"}  # the Projector's (storage/projector.py)
    assert items == reads | {"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"}


def test_query_entry_has_no_data_access() -> None:
    lambdas = stack()["lambdas"]
    policies = {n: b for n, b in lambdas.of_type("aws_iam_role_policy").items() if n != "base"}
    mine = [n for n, b in policies.items() if b["role"] == '${aws_iam_role.this["query_entry"].id}']
    assert mine == ["query_entry"]
    assert all(a.startswith("ec2:") for a in _grants("lambdas", "query_entry"))
    base = _grants("lambdas", "base")
    assert not any(a.startswith(("dynamodb:", "sqs:", "execute-api:", "ec2:")) for a in base)


def test_ecs_task_role_may_only_invoke_the_internal_api() -> None:
    grants = _grants("ecs", "task")
    assert set(grants) == {"execute-api:Invoke"}
    resources = grants["execute-api:Invoke"]
    assert resources and all(
        r.startswith("${var.internal_api_execution_arn}/${var.internal_api_stage_name}/")
        for r in resources
    )
    call = stack().call_of("ecs")
    assert call["internal_api_execution_arn"] == "${module.api_internal.execution_arn}"


def test_operations_role_may_only_project_and_read_and_empty_the_dead_letter_queue() -> None:
    """The one-off tasks (backfill, dlq replay): what the projection does, the command
    table's Scan and key reads, the stream's keys, the queue; nothing else."""
    command, read = (
        "${var.operations.command_table_arn}",
        "${var.operations.notification_table_arn}",
    )
    queue = ["${var.operations.dead_letter_queue_arn}"]
    grants = _grants("ecs", "operations")
    assert grants == {
        "dynamodb:DescribeTable": [command],
        "dynamodb:Scan": [command],
        "dynamodb:BatchGetItem": [command, read],
        "dynamodb:GetItem": [command, read],
        "dynamodb:GetShardIterator": [f"{command}/stream/*"],
        "dynamodb:GetRecords": [f"{command}/stream/*"],
        "dynamodb:PutItem": [read],
        "dynamodb:DeleteItem": [read],
        "dynamodb:Query": ["${var.operations.delivery_index_arn}"],
        "dynamodb:UpdateItem": ["${var.operations.stats_table_arn}"],
        "sqs:ReceiveMessage": queue,
        "sqs:DeleteMessage": queue,
        "sqs:GetQueueAttributes": queue,
        "sqs:SendMessage": queue,
        "kms:Decrypt": ["${var.kms_key_arn}"],
        "kms:GenerateDataKey": ["${var.kms_key_arn}"],
    }
    # It writes what the Stream Processor writes, no more.
    projection = {a for a in _grants("lambdas", "stream_processor") if a.endswith("Item")}
    assert {a for a in grants if a.endswith("Item")} == projection
    doc = stack()["ecs"].data["aws_iam_policy_document"]["operations"]
    (kms,) = [s for s in statements(doc) if "kms:Decrypt" in s["actions"]]
    (via,) = kms["condition"]
    assert via["variable"] == "kms:ViaService"
    assert {v.split(".")[0] for v in via["values"]} == {"dynamodb", "sqs"}
    assert stack().call_of("ecs")["operations"] == {
        "environment": "${module.lambdas.projection_environment}",
        "command_table_arn": "${module.dynamodb.command_table_arn}",
        "notification_table_arn": "${module.dynamodb.notification_table_arn}",
        "delivery_index_arn": "${module.dynamodb.notification_delivery_index_arn}",
        "stats_table_arn": "${module.dynamodb.stats_table_arn}",
        "dead_letter_queue_arn": "${module.lambdas.stream_dlq_arn}",
        "dead_letter_queue_url": "${module.lambdas.stream_dlq_url}",
    }
    assert (
        stack()["dynamodb"]
        .outputs["notification_delivery_index_arn"]["value"]
        .endswith("/index/delivery-index")
    )
    ecs = stack()["ecs"]
    task = ecs.resource("aws_ecs_task_definition", "operations")
    assert task["task_role_arn"] == "${aws_iam_role.operations.arn}"
    assert task["execution_role_arn"] == "${aws_iam_role.execution.arn}"  # the service's
    policies = ecs.of_type("aws_iam_role_policy")
    assert [n for n, b in policies.items() if b["role"] == "${aws_iam_role.operations.id}"] == [
        "operations"
    ]
    assert ecs.resource("aws_iam_role", "operations")["assume_role_policy"] == (
        "${data.aws_iam_policy_document.assume_ecs_task.json}"
    )


def test_execution_role_pulls_only_its_own_repository() -> None:
    grants = _grants("ecs", "execution")
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        assert grants[action] == ["${aws_ecr_repository.this.arn}"]


# --------------------------------------------------------------------------------------
# The private API
# --------------------------------------------------------------------------------------


def test_internal_api_is_private_and_bound_to_its_vpc_endpoint() -> None:
    api = stack()["api_internal"]
    (config,) = api.resource("aws_api_gateway_rest_api", "this")["endpoint_configuration"]
    assert config["types"] == ["PRIVATE"]
    endpoint = api.resource("aws_vpc_endpoint", "execute_api")
    assert endpoint["service_name"] == "com.amazonaws.${var.region}.execute-api"
    assert endpoint["vpc_endpoint_type"] == "Interface"
    assert endpoint["private_dns_enabled"] == "${var.private_dns_enabled}"

    policy = api.resource("aws_api_gateway_rest_api_policy", "this")
    assert policy["policy"] == "${data.aws_iam_policy_document.resource_policy.json}"
    doc = api.data["aws_iam_policy_document"]["resource_policy"]
    by_effect = {s.get("effect", "Allow"): s for s in statements(doc)}
    endpoint_id = ["${aws_vpc_endpoint.execute_api.id}"]
    (allow_condition,) = by_effect["Allow"]["condition"]
    assert allow_condition == {
        "test": "StringEquals",
        "variable": "aws:SourceVpce",
        "values": endpoint_id,
    }
    (deny_condition,) = by_effect["Deny"]["condition"]
    assert deny_condition == {
        "test": "StringNotEquals",
        "variable": "aws:SourceVpce",
        "values": endpoint_id,
    }
    (anyone,) = by_effect["Deny"]["principals"]
    assert anyone == {"type": "*", "identifiers": ["*"]}
    (invokers,) = by_effect["Allow"]["principals"]
    assert invokers["identifiers"] == "${var.invoker_role_arns}"
    assert stack().call_of("api_internal")["invoker_role_arns"] == ["${module.ecs.task_role_arn}"]


def test_internal_api_methods_need_sigv4_and_proxy_to_query_result() -> None:
    api = stack()["api_internal"]
    routes = api.locals["routes"]
    assert routes and all(r["authorization"] == "AWS_IAM" for r in routes.values())
    shared = stack()["api_deployment"]
    method = shared.resource("aws_api_gateway_method", "route")
    assert method["authorization"] == "${each.value.authorization}"
    integration = shared.resource("aws_api_gateway_integration", "route")
    assert (integration["type"], integration["uri"]) == ("AWS_PROXY", "${var.lambda_invoke_arn}")
    assert api.calls["deployment"]["lambda_invoke_arn"] == "${var.lambda_invoke_arn}"
    call = stack().call_of("api_internal")
    assert call["lambda_invoke_arn"] == "${module.lambdas.query_result_invoke_arn}"
    stage = stack().resolve("api_internal", api.calls["deployment"])
    assert stage["stage_name"] == "v1"


def test_ecs_tasks_call_the_private_api_with_iam() -> None:
    container = stack().resolve("ecs", stack()["ecs"].locals["container"])
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["INTERNAL_API_AUTH"] == "iam"
    assert stack().call_of("ecs")["internal_api_url"] == "${module.api_internal.invoke_url}"


# --------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------


def test_tasks_run_in_private_subnets_without_public_ip() -> None:
    service = stack()["ecs"].resource("aws_ecs_service", "this")
    (network,) = service["network_configuration"]
    assert network["assign_public_ip"] is False
    assert network["subnets"] == "${var.subnet_ids}"
    assert stack().call_of("ecs")["subnet_ids"] == "${var.private_subnet_ids}"
    lb = stack()["ecs"].resource("aws_lb", "this")
    assert lb["internal"] is True


def _ingress(module: Module) -> dict[str, dict[str, Any]]:
    return module.of_type("aws_vpc_security_group_ingress_rule")


def test_no_ingress_from_anywhere() -> None:
    for name, module in stack().modules.items():
        for rule_name, rule in _ingress(module).items():
            assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule, f"{name}.{rule_name}"
            source = rule.get("referenced_security_group_id") or rule.get("prefix_list_id")
            assert source, f"{name}.{rule_name} admits neither a security group nor a prefix list"
        assert "aws_security_group_rule" not in module.resources
        for sg_name, sg in module.of_type("aws_security_group").items():
            assert "ingress" not in sg and "egress" not in sg, f"inline rules in {sg_name}"


def test_alb_admits_only_query_entry_and_tasks_admit_only_the_alb() -> None:
    ecs = stack()["ecs"]
    rules = _ingress(ecs)
    assert set(rules) == {"alb_from_query_entry", "tasks_from_alb", "alb_console"}
    console = rules["alb_console"]  # staff reach only the console's HTTPS listener
    assert console["security_group_id"] == "${aws_security_group.alb.id}"
    assert console["from_port"] == console["to_port"] == 443
    assert rules["alb_from_query_entry"]["security_group_id"] == "${aws_security_group.alb.id}"
    assert rules["alb_from_query_entry"]["referenced_security_group_id"] == (
        "${var.client_security_group_id}"
    )
    assert stack().call_of("ecs")["client_security_group_id"] == (
        "${module.lambdas.query_entry_security_group_id}"
    )
    tasks = rules["tasks_from_alb"]
    assert tasks["security_group_id"] == "${aws_security_group.tasks.id}"
    assert tasks["referenced_security_group_id"] == "${aws_security_group.alb.id}"
    assert stack().resolve("ecs", tasks["from_port"]) == 8000


def test_operations_tasks_admit_nothing_and_reach_only_https() -> None:
    ecs = stack()["ecs"]
    rules = [*_ingress(ecs).values(), *ecs.of_type("aws_vpc_security_group_egress_rule").values()]
    mine = [r for r in rules if r["security_group_id"] == "${aws_security_group.operations.id}"]
    assert [(r["ip_protocol"], r["from_port"], r["to_port"]) for r in mine] == [("tcp", 443, 443)]
    assert "referenced_security_group_id" not in mine[0]  # egress: AWS's APIs
    assert not any(
        r.get("referenced_security_group_id") == "${aws_security_group.operations.id}"
        for r in rules
    )  # and nothing admits them anywhere (the private API's endpoint neither)


def test_vpc_endpoint_admits_only_the_tasks() -> None:
    (rule,) = _ingress(stack()["api_internal"]).values()
    assert rule["from_port"] == rule["to_port"] == 443
    assert rule["referenced_security_group_id"] == "${var.client_security_group_id}"
    assert stack().call_of("api_internal")["client_security_group_id"] == (
        "${module.ecs.task_security_group_id}"
    )


def test_query_entry_runs_in_the_private_subnets_and_reaches_the_alb() -> None:
    lambdas = stack()["lambdas"]
    function = lambdas.resource("aws_lambda_function", "this")
    (vpc,) = function["dynamic"][0]["vpc_config"]["content"]
    assert vpc["subnet_ids"] == "${var.subnet_ids}"
    assert stack().call_of("lambdas")["subnet_ids"] == "${var.private_subnet_ids}"
    egress = lambdas.resource("aws_vpc_security_group_egress_rule", "query_entry_to_alb")
    assert egress["security_group_id"] == "${aws_security_group.query_entry.id}"
    assert egress["referenced_security_group_id"] == "${var.alb_security_group_id}"
    assert stack().call_of("lambdas")["alb_security_group_id"] == (
        "${module.ecs.alb_security_group_id}"
    )


# --------------------------------------------------------------------------------------
# Data at rest and logs
# --------------------------------------------------------------------------------------


def test_tables_are_encrypted_recoverable_and_protected() -> None:
    tables = stack()["dynamodb"].of_type("aws_dynamodb_table")
    assert set(tables) == {"command", "notification", "stats"}
    for table in tables.values():
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        assert table["point_in_time_recovery"] == [{"enabled": True}]
        (sse,) = table["server_side_encryption"]
        assert sse["enabled"] is True and sse["kms_key_arn"] == "${var.kms_key_arn}"
        assert table["deletion_protection_enabled"] == "${var.deletion_protection}"
    assert stack().root.variables["deletion_protection"]["type"] == "bool"


def test_every_log_group_is_encrypted_and_expires() -> None:
    groups = [
        (name, group)
        for name, module in stack().modules.items()
        for group in module.of_type("aws_cloudwatch_log_group").values()
    ]
    assert len(groups) >= 6  # one module holds both APIs' two groups
    for name, group in groups:
        assert group["kms_key_id"] == "${var.kms_key_arn}", name
        assert stack().resolve(name, group["retention_in_days"]) >= 365


def test_queue_topic_and_repository_are_encrypted() -> None:
    dlq = stack()["lambdas"].resource("aws_sqs_queue", "stream_dlq")
    assert dlq["kms_master_key_id"] == "${var.kms_key_arn}"
    topic = stack()["monitoring"].resource("aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == "${var.kms_key_arn}"
    repo = stack()["ecs"].resource("aws_ecr_repository", "this")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"] == [{"scan_on_push": True}]
    assert repo["encryption_configuration"][0]["encryption_type"] == "KMS"


def test_apis_log_access_but_never_bodies() -> None:
    """Both APIs' stages come from one module (modules/api_deployment), so they cannot drift."""
    stage_module = stack()["api_deployment"]
    for name, module in stack().modules.items():
        if name != "api_deployment":
            assert "aws_api_gateway_stage" not in module.resources, name
            assert "aws_api_gateway_method_settings" not in module.resources, name
    for api in ("api_public", "api_internal"):
        assert stack()[api].calls["deployment"]["source"] == "../api_deployment"
    stage = stage_module.resource("aws_api_gateway_stage", "this")
    assert stage["access_log_settings"][0]["destination_arn"] == (
        "${aws_cloudwatch_log_group.access.arn}"
    )
    assert stage["xray_tracing_enabled"] is True
    (settings,) = stage_module.resource("aws_api_gateway_method_settings", "all")["settings"]
    assert settings["data_trace_enabled"] is False


def test_no_secret_is_written_in_the_configuration() -> None:
    for name, module in stack().modules.items():
        for text in walk_strings(module.files):
            assert not re.search(r"AKIA[0-9A-Z]{16}", text), name
    environment = stack()["lambdas"].locals["functions"]["query_result"]["environment"]
    assert "CURSOR_SECRET" not in environment
    parameter = stack()["lambdas"].resource("aws_ssm_parameter", "cursor_secret")
    assert parameter["type"] == "SecureString"
    assert parameter["key_id"] == "${var.kms_key_arn}"
    # Write-only, from an ephemeral and sensitive variable: in no plan, state or output.
    assert parameter["value_wo"] == "${var.cursor_secret}"
    assert "value" not in parameter
    for module in (ROOT, "lambdas"):
        variable = stack()[module].variables["cursor_secret"]
        assert variable["ephemeral"] is True and variable["sensitive"] is True


def test_query_result_may_read_only_its_cursor_parameter() -> None:
    grants = _grants("lambdas", "query_result")
    assert grants["ssm:GetParameter"] == ["${aws_ssm_parameter.cursor_secret.arn}"]
    assert not {a for a in grants if a.startswith("ssm:")} - {"ssm:GetParameter"}
