# What both REST APIs of this stack build the same way on their resources: a method and a
# Lambda proxy integration per route (all to one function's alias), the deployment, and
# the stage with encrypted access and execution log groups, X-Ray, metrics, INFO execution
# logs without bodies, stage-wide throttling, and the permission for API Gateway to call
# the alias. api_public and api_internal each call it with their own routes and values.

resource "aws_api_gateway_method" "route" {
  for_each = var.routes
  #checkov:skip=CKV_AWS_59:Only the public API's methods have no authorization, by contract: clients call /query/* without AWS credentials (MISSION: request formats stay as clients know them); abuse is bounded by its WAF rate rule and stage throttling, and api_key_required demands keys. The private API's methods use AWS_IAM.
  #checkov:skip=CKV2_AWS_53:Requests are validated by the domain's rules in the Lambdas, which answer the contract's problem+json (ARCHITECTURE §3, §4); a gateway validator would answer 400 in another shape.

  rest_api_id      = var.rest_api_id
  resource_id      = each.value.resource_id
  http_method      = each.value.http_method
  authorization    = each.value.authorization
  api_key_required = each.value.api_key_required
}

resource "aws_api_gateway_integration" "route" {
  for_each = var.routes

  rest_api_id             = var.rest_api_id
  resource_id             = each.value.resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = var.lambda_invoke_arn
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = var.rest_api_id
  description = var.description

  triggers = {
    redeployment = sha1(jsonencode([
      var.redeployment_triggers,
      [for key in keys(var.routes) : var.routes[key]],
      [for key in keys(var.routes) : aws_api_gateway_method.route[key].id],
      [for key in keys(var.routes) : aws_api_gateway_integration.route[key].id],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.route]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.api_name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# API Gateway would create this group itself, unencrypted and kept forever.
resource "aws_cloudwatch_log_group" "execution" {
  name              = "API-Gateway-Execution-Logs_${var.rest_api_id}/${var.stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Query answers are per caller over changing data and mostly POST; a cache would serve stale pages and cost without a hit.
  #checkov:skip=CKV2_AWS_51:A client certificate authenticates API Gateway to HTTP backends; every integration here is AWS_PROXY to Lambda, where it has no effect.
  #checkov:skip=CKV2_AWS_29:The public API's stage gets the web ACL in api_public (aws_wafv2_web_acl_association.stage); the private API is reachable only through its VPC endpoint by the ECS task role.
  rest_api_id          = var.rest_api_id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode(merge({
      requestId          = "$context.requestId"
      sourceIp           = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      latency            = "$context.responseLatency"
      errorMessage       = "$context.error.message"
    }, var.access_log_fields))
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.execution]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose; see the stage's CKV_AWS_120.
  rest_api_id = var.rest_api_id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "INFO"
    data_trace_enabled     = false # bodies hold user data; never log them
    caching_enabled        = false
    cache_data_encrypted   = true
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
  }
}

resource "aws_lambda_permission" "invoke" {
  statement_id  = var.permission_statement_id
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  qualifier     = var.lambda_qualifier
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${var.execution_arn}/${var.stage_name}/*"
}
