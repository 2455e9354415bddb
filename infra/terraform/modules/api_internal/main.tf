# The internal API of ARCHITECTURE §4: a PRIVATE REST API the ECS service calls with
# SigV4-signed requests (INTERNAL_API_AUTH=iam) through an execute-api interface endpoint.
# Two locks: AWS_IAM authorization on every method, and a resource policy that allows
# only the invoker roles and only through this endpoint (aws:SourceVpce).
#
# Private DNS on the endpoint is off by default: it would send every execute-api hostname
# called from this VPC (other teams' public APIs included) to this endpoint. The tasks call
# the API by its endpoint-specific hostname instead (local.invoke_url).

data "aws_caller_identity" "current" {}

locals {
  # With the endpoint associated to the API (endpoint_configuration below), API Gateway
  # publishes <api-id>-<vpce-id>.execute-api.<region>.amazonaws.com, resolving to this
  # endpoint, so the VPC's other execute-api traffic is left alone.
  invoke_url = (var.private_dns_enabled
    ? module.deployment.invoke_url
    : "https://${aws_api_gateway_rest_api.this.id}-${aws_vpc_endpoint.execute_api.id}.execute-api.${var.region}.amazonaws.com/${module.deployment.stage_name}"
  )

  # The routes of the local internal gateway (query_service.local.gateway.INTERNAL), as
  # the ECS handler calls them (internal_client.py): POST /query/{kind}, GET /health.
  # Every method is signed (AWS_IAM) by the task role.
  routes = {
    query  = { resource_id = aws_api_gateway_resource.query_kind.id, http_method = "POST", authorization = "AWS_IAM" }
    health = { resource_id = aws_api_gateway_resource.health.id, http_method = "GET", authorization = "AWS_IAM" }
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
  private_dns_enabled = var.private_dns_enabled
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

module "deployment" {
  source = "../api_deployment"

  api_name          = var.name
  rest_api_id       = aws_api_gateway_rest_api.this.id
  execution_arn     = aws_api_gateway_rest_api.this.execution_arn
  description       = "query-service internal API"
  routes            = local.routes
  lambda_invoke_arn = var.lambda_invoke_arn
  # A private API's resource policy takes effect only with a new deployment.
  redeployment_triggers = [aws_api_gateway_rest_api_policy.this.policy]

  depends_on           = [aws_api_gateway_rest_api_policy.this]
  stage_name           = var.stage_name
  throttle_rate_limit  = var.throttle_rate_limit
  throttle_burst_limit = var.throttle_burst_limit
  access_log_fields = {
    vpceId       = "$context.identity.vpceId"
    caller       = "$context.identity.caller"
    userArn      = "$context.identity.userArn"
    resourcePath = "$context.resourcePath"
  }
  lambda_function_name    = var.lambda_function_name
  lambda_qualifier        = var.lambda_qualifier
  permission_statement_id = "AllowInternalApiInvoke"
  kms_key_arn             = var.kms_key_arn
  log_retention_days      = var.log_retention_days
  tags                    = var.tags
}
