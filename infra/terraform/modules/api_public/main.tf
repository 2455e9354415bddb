# The public API of ARCHITECTURE §3: a regional REST API whose every path goes to the
# Query Lambda (Lambda proxy, payload 1.0), exactly as the local gateway does
# (query_service.local.gateway.PUBLIC: ANY / and ANY /{proxy+}).
#
# Why {proxy+} rather than one resource per path: query_entry owns the contract for every
# path, including the ones that are not served (404 problem+json for an unknown path, 405
# with Allow for a wrong method, 410 for the removed /query/marketing, the Deprecation
# headers of /query/failures and /failed). Per-path resources would let API Gateway answer
# those itself with 403 {"message": "Missing Authentication Token"}.

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = "query-service public API: clients -> Query Lambda"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "proxy" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "{proxy+}"
}

locals {
  # ANY on / and on /{proxy+}, as query_service.local.gateway.PUBLIC; no authorization, by
  # contract (see the shared module's CKV_AWS_59).
  routes = {
    root  = { resource_id = aws_api_gateway_rest_api.this.root_resource_id, http_method = "ANY", authorization = "NONE", api_key_required = var.api_key_required }
    proxy = { resource_id = aws_api_gateway_resource.proxy.id, http_method = "ANY", authorization = "NONE", api_key_required = var.api_key_required }
  }
}

module "deployment" {
  source = "../api_deployment"

  api_name              = aws_api_gateway_rest_api.this.name
  rest_api_id           = aws_api_gateway_rest_api.this.id
  execution_arn         = aws_api_gateway_rest_api.this.execution_arn
  description           = "query-service public API"
  routes                = local.routes
  redeployment_triggers = [aws_api_gateway_resource.proxy.id]
  lambda_invoke_arn     = var.lambda_invoke_arn
  stage_name            = var.stage_name
  throttle_rate_limit   = var.throttle_rate_limit
  throttle_burst_limit  = var.throttle_burst_limit
  access_log_fields = {
    extendedRequestId = "$context.extendedRequestId"
    userAgent         = "$context.identity.userAgent"
    apiKeyId          = "$context.identity.apiKeyId"
    path              = "$context.path"
    integrationStatus = "$context.integration.status"
    wafStatus         = "$context.waf.status"
  }
  lambda_function_name    = var.lambda_function_name
  lambda_qualifier        = var.lambda_qualifier
  permission_statement_id = "AllowPublicApiInvoke"
  kms_key_arn             = var.kms_key_arn
  log_retention_days      = var.log_retention_days
  tags                    = var.tags
}

# ---------------------------------------------------------------------------------------
# Optional API keys: a usage plan with per-key throttling and a daily quota.
# ---------------------------------------------------------------------------------------

resource "aws_api_gateway_usage_plan" "this" {
  count = var.api_key_required ? 1 : 0

  name = "${var.name}-default"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = module.deployment.stage_name
  }

  throttle_settings {
    rate_limit  = var.throttle_rate_limit
    burst_limit = var.throttle_burst_limit
  }

  quota_settings {
    limit  = var.usage_plan_quota_per_day
    period = "DAY"
  }

  tags = var.tags
}

resource "aws_api_gateway_api_key" "default" {
  count = var.api_key_required ? 1 : 0

  name = "${var.name}-default"
  tags = var.tags
}

resource "aws_api_gateway_usage_plan_key" "default" {
  count = var.api_key_required ? 1 : 0

  key_id        = aws_api_gateway_api_key.default[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}

# ---------------------------------------------------------------------------------------
# WAF: AWS managed rules and a per-IP rate limit in front of the stage.
# ---------------------------------------------------------------------------------------

resource "aws_wafv2_web_acl" "this" {
  name        = var.name
  description = "query-service public API"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-common"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        # The rule set blocks bodies over 8 KB; the contract allows 16 KiB and answers
        # 413 itself beyond that, so this rule only counts.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  # Anonymizers (Tor, open proxies, VPN services) are blocked; cloud hosting addresses are
  # only counted, because backend services call this API from them.
  rule {
    name     = "aws-anonymous-ip"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAnonymousIpList"
        vendor_name = "AWS"

        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-anonymous-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_wafv2_web_acl_association" "stage" {
  resource_arn = module.deployment.stage_arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

# WAF requires the aws-waf-logs- prefix.
resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
}
