# query-service on AWS (ARCHITECTURE §1):
#
#   client -> public API (regional, v1) -> query_entry Lambda -> internal ALB
#          -> ECS Fargate service -> private API (execute-api VPC endpoint, v1)
#          -> query_result Lambda -> DynamoDB notification-records
#   command-records stream -> stream_processor Lambda -> notification-records
#
# The root holds what every module shares (one customer managed KMS key, the account-level
# API Gateway logging role) and wires the modules together.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Powertools publishes each layer version's ARN as a public SSM parameter per release.
data "aws_ssm_parameter" "powertools_layer" {
  count = var.powertools_layer_arn == null ? 1 : 0

  name = "/aws/service/powertools/python/x86_64/python3.12/${var.powertools_version}"
}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  package_dir = coalesce(var.lambda_package_dir, "${path.root}/../../dist")

  # IAM names are unique in the whole account, S3 bucket names in all of AWS: the ones made
  # here carry the environment and the region, so a second environment or region deployed
  # into the same account does not collide with this one.
  global_name = "${var.service_name}-${var.environment}-${var.region}"

  # The Powertools layer of the version uv.lock pins (tests/infra checks they agree),
  # unless an ARN is given.
  powertools_layer_arn = coalesce(var.powertools_layer_arn, one(data.aws_ssm_parameter.powertools_layer[*].insecure_value))

  tags = merge(var.tags, {
    Service     = var.service_name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

# ---------------------------------------------------------------------------------------
# One customer managed key for data at rest: tables, streams' DLQ, SNS, log groups, Lambda
# environment, ECR, SSM. Services that encrypt on their own behalf are named in the policy;
# IAM principals of this account get access only through their own (least-privilege)
# policies, which name this key's ARN.
# ---------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${var.service_name}: data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.service_name}"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource means this key only; administration is delegated to IAM of this account, the AWS default.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; write use is delegated to IAM of this account, whose policies name the key.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  statement {
    sid = "AccountAdministersAndDelegatesThroughIam"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:Create*",
      "kms:Decrypt",
      "kms:Delete*",
      "kms:Describe*",
      "kms:Disable*",
      "kms:Enable*",
      "kms:Encrypt",
      "kms:GenerateDataKey*",
      "kms:Get*",
      "kms:List*",
      "kms:Put*",
      "kms:ReEncrypt*",
      "kms:Revoke*",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:Update*",
    ]
    resources = ["*"]
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------------------------------
# API Gateway writes access and execution logs with one role set per account and region
# (aws_api_gateway_account, a regional singleton). Opt-in: applied by default it would
# replace the role another stack of the account set, and hand the setting to whichever
# stack applied last. Turn manage_api_gateway_account on in one stack per account and
# region that has no role yet (docs/operations.md).
# ---------------------------------------------------------------------------------------

# The trust policy API Gateway documents for its CloudWatch role: no condition keys (a
# condition on a key the service does not send would deny the assume).
data "aws_iam_policy_document" "assume_apigateway" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name               = "${local.global_name}-apigateway"
  description        = "API Gateway (account-wide setting of ${var.region}) writes stage execution logs"
  assume_role_policy = data.aws_iam_policy_document.assume_apigateway.json
  tags               = local.tags
}

# The actions of the AWS managed AmazonAPIGatewayPushToCloudWatchLogs policy, on log
# groups only.
data "aws_iam_policy_document" "apigateway_cloudwatch" {
  statement {
    sid = "WriteLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
      "logs:PutLogEvents",
    ]
    resources = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "apigateway_cloudwatch" {
  count = var.manage_api_gateway_account ? 1 : 0

  name   = "write-api-gateway-logs"
  role   = aws_iam_role.apigateway_cloudwatch[0].id
  policy = data.aws_iam_policy_document.apigateway_cloudwatch.json
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigateway_cloudwatch[0].arn
  depends_on          = [aws_iam_role_policy.apigateway_cloudwatch]
}

# ---------------------------------------------------------------------------------------
# The system
# ---------------------------------------------------------------------------------------

module "dynamodb" {
  source = "./modules/dynamodb"

  command_table_name      = var.command_table_name
  notification_table_name = var.notification_table_name
  stats_table_name        = var.stats_table_name
  kms_key_arn             = aws_kms_key.this.arn
  deletion_protection     = var.deletion_protection
  tags                    = local.tags
}

module "lambdas" {
  source = "./modules/lambdas"

  name_prefix          = var.service_name
  iam_name_prefix      = local.global_name
  region               = var.region
  package_dir          = local.package_dir
  powertools_layer_arn = local.powertools_layer_arn
  vpc_id               = var.vpc_id
  subnet_ids           = var.private_subnet_ids
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days

  cursor_secret_parameter_name = "/${var.service_name}/${var.environment}/cursor-secret"
  cursor_secret                = var.cursor_secret
  cursor_secret_version        = var.cursor_secret_version

  # query_entry forwards to the ECS service through the internal ALB: plain HTTP inside
  # the VPC, and the ALB's security group admits only query_entry's.
  ecs_handler_url       = "http://${module.ecs.alb_dns_name}"
  alb_security_group_id = module.ecs.alb_security_group_id

  reserved_concurrency = var.lambda_reserved_concurrency
  snap_start           = var.lambda_snap_start

  command_table_name            = module.dynamodb.command_table_name
  command_table_arn             = module.dynamodb.command_table_arn
  command_table_stream_arn      = module.dynamodb.command_table_stream_arn
  notification_table_name       = module.dynamodb.notification_table_name
  notification_table_arn        = module.dynamodb.notification_table_arn
  notification_query_index_arns = module.dynamodb.notification_query_index_arns
  stats_table_name              = module.dynamodb.stats_table_name
  stats_table_arn               = module.dynamodb.stats_table_arn
  tags                          = local.tags
}

module "api_internal" {
  source = "./modules/api_internal"

  name                     = "${var.service_name}-internal"
  region                   = var.region
  vpc_id                   = var.vpc_id
  subnet_ids               = var.private_subnet_ids
  client_security_group_id = module.ecs.task_security_group_id
  invoker_role_arns        = [module.ecs.task_role_arn]
  lambda_function_name     = module.lambdas.query_result_function_name
  lambda_qualifier         = module.lambdas.alias_name
  lambda_invoke_arn        = module.lambdas.query_result_invoke_arn
  throttle_rate_limit      = var.internal_api_throttle_rate_limit
  throttle_burst_limit     = var.internal_api_throttle_burst_limit
  private_dns_enabled      = var.execute_api_private_dns_enabled
  kms_key_arn              = aws_kms_key.this.arn
  log_retention_days       = var.log_retention_days
  tags                     = local.tags

  depends_on = [aws_api_gateway_account.this]
}

module "ecs" {
  source = "./modules/ecs"

  cluster_name               = var.cluster_name
  service_name               = var.service_name
  iam_name_prefix            = local.global_name
  alb_log_bucket_name        = "${local.global_name}-alb-logs-${local.account_id}"
  image_uri                  = var.image_uri
  region                     = var.region
  vpc_id                     = var.vpc_id
  subnet_ids                 = var.private_subnet_ids
  client_security_group_id   = module.lambdas.query_entry_security_group_id
  internal_api_url           = module.api_internal.invoke_url
  internal_api_execution_arn = module.api_internal.execution_arn
  internal_api_stage_name    = module.api_internal.stage_name
  kms_key_arn                = aws_kms_key.this.arn
  log_retention_days         = var.log_retention_days
  desired_count              = var.desired_count
  min_capacity               = var.min_capacity
  max_capacity               = var.max_capacity
  deletion_protection        = var.deletion_protection
  tags                       = local.tags
  console                    = var.console

  operations = {
    environment            = module.lambdas.projection_environment
    command_table_arn      = module.dynamodb.command_table_arn
    notification_table_arn = module.dynamodb.notification_table_arn
    delivery_index_arn     = module.dynamodb.notification_delivery_index_arn
    stats_table_arn        = module.dynamodb.stats_table_arn
    dead_letter_queue_arn  = module.lambdas.stream_dlq_arn
    dead_letter_queue_url  = module.lambdas.stream_dlq_url
  }
}

module "api_public" {
  source = "./modules/api_public"

  name                 = "${var.service_name}-public"
  lambda_function_name = module.lambdas.query_entry_function_name
  lambda_qualifier     = module.lambdas.alias_name
  lambda_invoke_arn    = module.lambdas.query_entry_invoke_arn
  throttle_rate_limit  = var.public_api_throttle_rate_limit
  throttle_burst_limit = var.public_api_throttle_burst_limit
  api_key_required     = var.public_api_key_required
  waf_rate_limit       = var.waf_rate_limit_per_5min
  kms_key_arn          = aws_kms_key.this.arn
  log_retention_days   = var.log_retention_days
  tags                 = local.tags

  depends_on = [aws_api_gateway_account.this]
}

module "monitoring" {
  source = "./modules/monitoring"

  name_prefix             = var.service_name
  alarm_name_prefix       = var.alarm_name_prefix
  region                  = var.region
  cluster_name            = module.ecs.cluster_name
  service_name            = module.ecs.service_name
  cpu_target_percent      = module.ecs.cpu_target_percent
  memory_target_percent   = module.ecs.memory_target_percent
  alb_arn_suffix          = module.ecs.alb_arn_suffix
  target_group_arn_suffix = module.ecs.target_group_arn_suffix
  lambda_function_names   = module.lambdas.function_names
  stream_function_name    = module.lambdas.stream_processor_function_name
  table_names = {
    command      = module.dynamodb.command_table_name
    notification = module.dynamodb.notification_table_name
    stats        = module.dynamodb.stats_table_name
  }
  dlq_name              = module.lambdas.stream_dlq_name
  public_api_name       = module.api_public.rest_api_name
  public_api_stage_name = module.api_public.stage_name
  kms_key_arn           = aws_kms_key.this.arn
  alarm_email_addresses = var.alarm_email_addresses
  tags                  = local.tags
}
