# The internal API of ARCHITECTURE §4: a PRIVATE REST API the ECS service calls with
# SigV4-signed requests (INTERNAL_API_AUTH=iam) through an execute-api interface endpoint.
# Two locks: AWS_IAM authorization on every method, and a resource policy that allows
# only the invoker roles and only through this endpoint (aws:SourceVpce).
#
# Private DNS on the endpoint makes https://<api-id>.execute-api.<region>.amazonaws.com
# resolve to it inside the VPC, so INTERNAL_API_URL is the stage's ordinary invoke URL.
# It also sends every other execute-api hostname called from this VPC to the endpoint:
# a public regional API called from inside this VPC must then be reached another way.

data "aws_caller_identity" "current" {}

locals {
  # The routes of the local internal gateway (query_service.local.gateway.INTERNAL), as
  # the ECS handler calls them (internal_client.py): POST /query/{kind}, GET /health.
  routes = {
    query  = { resource_id = aws_api_gateway_resource.query_kind.id, method = "POST" }
    health = { resource_id = aws_api_gateway_resource.health.id, method = "GET" }
  }
}

# ---------------------------------------------------------------------------------------
# The execute-api endpoint
# ---------------------------------------------------------------------------------------

resource "aws_security_group" "endpoint" {
  name        = "${var.name}-endpoint"
  description = "execute-api interface endpoint: HTTPS from the ECS tasks only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "endpoint_https" {
  security_group_id            = aws_security_group.endpoint.id
  description                  = "HTTPS from the ECS tasks"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.client_security_group_id
}

resource "aws_vpc_endpoint" "execute_api" {
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.execute-api"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoint.id]
  tags                = merge(var.tags, { Name = "${var.name}-execute-api" })
}

# Through this endpoint, only the invoker roles, and only this API.
data "aws_iam_policy_document" "endpoint" {
  statement {
    sid       = "InvokeOnlyThisApi"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = var.invoker_role_arns
    }
  }
}

resource "aws_vpc_endpoint_policy" "execute_api" {
  vpc_endpoint_id = aws_vpc_endpoint.execute_api.id
  policy          = data.aws_iam_policy_document.endpoint.json
}

# ---------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "query-service internal API: ECS handler -> Query Result Lambda"

  endpoint_configuration {
    types            = ["PRIVATE"]
    vpc_endpoint_ids = [aws_vpc_endpoint.execute_api.id]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "resource_policy" {
  statement {
    sid       = "InvokerRolesThroughTheEndpoint"
    effect    = "Allow"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = var.invoker_role_arns
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.execute_api.id]
    }
  }

  statement {
    sid       = "NothingFromAnywhereElse"
    effect    = "Deny"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.execute_api.id]
    }
  }
}

resource "aws_api_gateway_rest_api_policy" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy      = data.aws_iam_policy_document.resource_policy.json
}

resource "aws_api_gateway_resource" "query" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "query"
}

# /query/{kind}: query_result answers 404 problem+json for a kind it does not know.
resource "aws_api_gateway_resource" "query_kind" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.query.id
  path_part   = "{kind}"
}

resource "aws_api_gateway_resource" "health" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "health"
}

resource "aws_api_gateway_method" "route" {
  for_each = local.routes
  #checkov:skip=CKV2_AWS_53:Requests are validated by the domain's rules in query_result, which answer problem+json (ARCHITECTURE §4); a gateway validator would answer 400 in another shape.

  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = each.value.resource_id
  http_method   = each.value.method
  authorization = "AWS_IAM"
}

resource "aws_api_gateway_integration" "route" {
  for_each = local.routes

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = each.value.resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = var.lambda_invoke_arn
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "query-service internal API"

  # A private API's resource policy takes effect only with a new deployment.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_rest_api_policy.this.policy,
      [for key in keys(local.routes) : local.routes[key].resource_id],
      [for key in keys(local.routes) : aws_api_gateway_method.route[key].id],
      [for key in keys(local.routes) : aws_api_gateway_integration.route[key].id],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.route, aws_api_gateway_rest_api_policy.this]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# API Gateway would create this group itself, unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "execution" {
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Query answers are per caller over changing data, requests are POST; a cache would serve stale pages and cost without a hit.
  #checkov:skip=CKV2_AWS_51:A client certificate authenticates API Gateway to HTTP backends; every integration here is AWS_PROXY to Lambda, where it has no effect.
  #checkov:skip=CKV2_AWS_29:Private API: reachable only through the VPC endpoint by the ECS task role (resource policy + AWS_IAM); the public API in front carries the WAF.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      sourceIp           = "$context.identity.sourceIp"
      vpceId             = "$context.identity.vpceId"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      latency            = "$context.responseLatency"
      errorMessage       = "$context.error.message"
    })
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.execution]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose; see the stage's CKV_AWS_120.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "INFO"
    data_trace_enabled     = false # bodies hold user data; never log them
    caching_enabled        = false
    cache_data_encrypted   = true
    throttling_rate_limit  = 1000
    throttling_burst_limit = 2000
  }
}

resource "aws_lambda_permission" "invoke" {
  statement_id  = "AllowInternalApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/*"
}
