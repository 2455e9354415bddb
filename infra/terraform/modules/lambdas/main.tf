# The three Lambda functions (ARCHITECTURE §1), each with its own role, log group and
# security group, and the event source mapping that feeds the projection.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Names match the local stack's gateway specs (query_service.local.gateway).
  functions = {
    query_entry = {
      name        = "${var.name_prefix}-query-entry"
      description = "Query Lambda: validates public requests and forwards them to the ECS service"
      handler     = "query_service.lambdas.query_entry.lambda_handler"
      package     = "${var.package_dir}/query_entry.zip"
      timeout     = var.query_entry_request_timeout + 5
      memory_size = 512
      environment = {
        ENVIRONMENT     = "production"
        ECS_HANDLER_URL = var.ecs_handler_url
        REQUEST_TIMEOUT = tostring(var.query_entry_request_timeout)
        LOG_LEVEL       = var.log_level
      }
    }
    query_result = {
      name        = "${var.name_prefix}-query-result"
      description = "Query Result Lambda: the private API's backend, DynamoDB queries on the read model"
      handler     = "query_service.lambdas.query_result.lambda_handler"
      package     = "${var.package_dir}/query_result.zip"
      timeout     = 10
      memory_size = 512
      environment = {
        ENVIRONMENT             = "production"
        NOTIFICATION_TABLE_NAME = var.notification_table_name
        COMMAND_TABLE_NAME      = var.command_table_name
        STATS_TABLE_NAME        = var.stats_table_name
        # The HMAC keys of pagination cursors live in an SSM SecureString, read once per
        # execution environment. A new version changes this configuration, so Lambda
        # replaces the environments holding the old keys (docs/operations.md, rotation).
        CURSOR_SECRET_PARAMETER = aws_ssm_parameter.cursor_secret.name
        CURSOR_SECRET_VERSION   = tostring(var.cursor_secret_version)
        LOG_LEVEL               = var.log_level
      }
    }
    stream_processor = {
      name        = "${var.name_prefix}-stream-processor"
      description = "Projection: command-records stream to notification-records"
      handler     = "query_service.lambdas.stream_processor.lambda_handler"
      package     = "${var.package_dir}/stream_processor.zip"
      timeout     = 60
      memory_size = 512
      environment = {
        ENVIRONMENT             = "production"
        NOTIFICATION_TABLE_NAME = var.notification_table_name
        COMMAND_TABLE_NAME      = var.command_table_name
        STATS_TABLE_NAME        = var.stats_table_name
        LOG_LEVEL               = var.log_level
      }
    }
  }
}

# ---------------------------------------------------------------------------------------
# Network: only query_entry runs in the VPC, because the internal ALB it calls is there;
# its security group may reach that ALB and nothing else. query_result and
# stream_processor call only AWS APIs (DynamoDB, SSM), which a function outside a VPC
# reaches without a NAT gateway or VPC endpoints, and without network interfaces to
# create at every scale-out.
# ---------------------------------------------------------------------------------------

resource "aws_security_group" "query_entry" {
  name        = local.functions.query_entry.name
  description = "${local.functions.query_entry.name} Lambda: may reach the internal ALB only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "query_entry_to_alb" {
  security_group_id            = aws_security_group.query_entry.id
  description                  = "HTTP to the internal ALB in front of the ECS service"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = var.alb_security_group_id
}

# ---------------------------------------------------------------------------------------
# The cursor secret
# ---------------------------------------------------------------------------------------

# The operator supplies the value (a write-only argument: it is kept in neither the plan
# nor the state) and bumps cursor_secret_version to write a new one.
resource "aws_ssm_parameter" "cursor_secret" {
  name             = var.cursor_secret_parameter_name
  description      = "HMAC keys of the query-service paging cursors, comma-separated: the first signs, all verify"
  type             = "SecureString"
  key_id           = var.kms_key_arn
  value_wo         = var.cursor_secret
  value_wo_version = var.cursor_secret_version
  tags             = var.tags
}

# ---------------------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.functions

  name              = "/aws/lambda/${each.value.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# The trust policy of Lambda's documentation for execution roles: Lambda does not document
# aws:SourceAccount / aws:SourceArn for assuming them, and a condition on a key the
# service does not send denies the assume (tests/infra: documented conditions only).
data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.functions

  name               = "${var.iam_name_prefix}-${replace(each.key, "_", "-")}"
  description        = "Execution role of ${each.value.name}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

# What every function needs: its own log group, X-Ray, and the key that encrypts its
# environment.
data "aws_iam_policy_document" "base" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  statement {
    sid       = "XRayHasNoResourceLevelPermissions"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "base" {
  for_each = local.functions

  name   = "base"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.base[each.key].json
}

# query_entry's network interfaces in these subnets, with its security group only.
data "aws_iam_policy_document" "query_entry" {
  statement {
    sid       = "DescribeHasNoResourceLevelPermissions"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }

  statement {
    sid     = "CreateInterfacesInOwnSubnetsAndGroup"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:network-interface/*"],
      [for id in var.subnet_ids : "arn:${local.partition}:ec2:${var.region}:${local.account_id}:subnet/${id}"],
      ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:security-group/${aws_security_group.query_entry.id}"],
    )
  }

  statement {
    sid = "ManageOwnInterfaces"
    actions = [
      "ec2:AssignPrivateIpAddresses",
      "ec2:DeleteNetworkInterface",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:network-interface/*"]
  }
}

resource "aws_iam_role_policy" "query_entry" {
  name   = "vpc-network-interfaces"
  role   = aws_iam_role.this["query_entry"].id
  policy = data.aws_iam_policy_document.query_entry.json
}

data "aws_iam_policy_document" "query_result" {
  statement {
    sid       = "QueryReadModelAndItsQueryIndexes"
    actions   = ["dynamodb:Query"]
    resources = concat([var.notification_table_arn], var.notification_query_index_arns)
  }

  statement {
    sid       = "ReadCursorKeys"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.cursor_secret.arn]
  }

  statement {
    sid       = "DecryptCursorKeysThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "ReadStatisticsCounters"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [var.stats_table_arn]
  }

  statement {
    sid       = "DecryptTableThroughDynamoDB"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "query_result" {
  name   = "query-read-model"
  role   = aws_iam_role.this["query_result"].id
  policy = data.aws_iam_policy_document.query_result.json
}

data "aws_iam_policy_document" "stream_processor" {
  statement {
    sid = "ReadCommandStream"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
    ]
    resources = ["${var.command_table_arn}/stream/*"]
  }

  # The Projector reads the read items a change applies to (a batch's in one consistent
  # BatchGetItem, again with GetItem after a conflict) and writes them on a condition.
  statement {
    sid = "ProjectIntoReadModel"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:DeleteItem",
    ]
    resources = [var.notification_table_arn]
  }

  # The counters move in one TransactWriteItems with the read item's put or delete; IAM
  # authorises each of its items by its own action.
  statement {
    sid       = "CountIntoStatistics"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.stats_table_arn]
  }

  statement {
    sid       = "SendFailedBatchesToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.stream_dlq.arn]
  }

  statement {
    sid       = "UseKeyOfTablesAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${var.region}.amazonaws.com", "sqs.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "stream_processor" {
  name   = "project-command-stream"
  role   = aws_iam_role.this["stream_processor"].id
  policy = data.aws_iam_policy_document.stream_processor.json
}

resource "aws_lambda_function" "this" {
  for_each = local.functions
  #checkov:skip=CKV_AWS_116:No asynchronous invocations: API Gateway invokes query_entry and query_result synchronously, and stream_processor's failures go to the event source mapping's on-failure destination (an encrypted SQS queue).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is opt-in (lambda_reserved_concurrency): a new account's quota cannot give any, and a reservation that leaves fewer than 100 unreserved fails the apply.
  #checkov:skip=CKV_AWS_117:Only query_entry needs the VPC (the internal ALB) and is in it; query_result and stream_processor call only DynamoDB and SSM, which need no VPC.
  #checkov:skip=CKV_AWS_272:The zips are built by `make package` from uv.lock and deployed by this same pipeline; Lambda code signing needs an AWS Signer job on S3 objects, which this deploy path does not have.

  function_name                  = each.value.name
  description                    = each.value.description
  role                           = aws_iam_role.this[each.key].arn
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  handler                        = each.value.handler
  filename                       = each.value.package
  source_code_hash               = filebase64sha256(each.value.package)
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory_size
  reserved_concurrent_executions = lookup(var.reserved_concurrency, each.key, -1) # -1: unreserved
  publish                        = true                                           # a version per change: SnapStart and the alias need one
  layers                         = [var.powertools_layer_arn]                     # boto3 comes with the runtime
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = each.value.environment
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = each.key == "query_entry" ? [aws_security_group.query_entry.id] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = [vpc_config.value]
    }
  }

  # Lambda initialises a published version once and resumes new execution environments
  # from its snapshot instead of importing again (issue 12, cold start).
  dynamic "snap_start" {
    for_each = var.snap_start ? ["PublishedVersions"] : []
    content {
      apply_on = snap_start.value
    }
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.base, aws_iam_role_policy.query_entry]
}

# What the API integrations, their invoke permissions and the stream mapping call: the
# version published last, not $LATEST (which SnapStart never applies to).
resource "aws_lambda_alias" "live" {
  for_each = local.functions

  name             = "live"
  description      = "The published version ${each.value.name} serves"
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = aws_lambda_function.this[each.key].version
}

# ---------------------------------------------------------------------------------------
# Projection: command-records stream -> stream_processor, partial batch responses, and
# an encrypted dead-letter queue for what still fails after the retries.
# ---------------------------------------------------------------------------------------

resource "aws_sqs_queue" "stream_dlq" {
  name                              = "${var.name_prefix}-stream-dlq"
  message_retention_seconds         = 1209600 # 14 days, the maximum
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_lambda_event_source_mapping" "command_stream" {
  event_source_arn                   = var.command_table_stream_arn
  function_name                      = aws_lambda_alias.live["stream_processor"].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = var.stream_maximum_batching_window_seconds
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.stream_maximum_retry_attempts
  maximum_record_age_in_seconds      = var.stream_maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.stream_dlq.arn
    }
  }

  depends_on = [aws_iam_role_policy.stream_processor]
}
