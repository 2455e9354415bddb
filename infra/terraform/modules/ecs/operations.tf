# ---------------------------------------------------------------------------------------
# One-off operations (ARCHITECTURE §8, docs/operations.md): `query-service backfill` and
# `query-service dlq list|replay` as tasks of the service's own image, started with
# `aws ecs run-task` and a command override. The container is the service's, less what
# only a server needs (its port, its health check, the console's settings), with the
# Stream Processor's projection settings; its logs go to the service's group under the
# stream prefix "operations". Its role may do what the projection does and read and
# empty the dead-letter queue, nothing else; its security group admits nothing.
# ---------------------------------------------------------------------------------------

locals {
  operations_container = merge(
    { for key, value in local.container : key => value if !contains(["portMappings", "healthCheck"], key) },
    {
      name = "operations"
      # What runs without an override: a dry run that lists the dead letters.
      command = ["query-service", "dlq", "list"]
      # After SIGTERM (ecs stop-task) a backfill finishes its page and checkpoints.
      stopTimeout = 120
      environment = [
        for name, value in merge(var.operations.environment, {
          SERVICE_NAME       = "${var.service_name}-operations"
          AWS_DEFAULT_REGION = var.region
          LOG_LEVEL          = var.log_level
          STREAM_DLQ_URL     = var.operations.dead_letter_queue_url
          # The root filesystem is read-only: checkpoints on the task's scratch volume.
          QUERY_SERVICE_STATE_DIR = "/tmp/query-service"
        }) : { name = name, value = value }
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = local.log_group_name
          awslogs-region        = var.region
          awslogs-stream-prefix = "operations"
        }
      }
    },
  )
}

resource "aws_iam_role" "operations" {
  name               = "${var.iam_name_prefix}-ecs-operations"
  description        = "One-off tasks of ${var.service_name}: backfill the read side, replay dead letters"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_task.json
  tags               = var.tags
}

data "aws_iam_policy_document" "operations" {
  statement {
    sid = "ScanAndReadCommandTable"
    actions = [
      "dynamodb:DescribeTable", # the backfill's progress total (ItemCount)
      "dynamodb:Scan",
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
    ]
    resources = [var.operations.command_table_arn]
  }

  # A letter from Lambda's on-failure destination names only a stream range: its keys
  # are read back from the stream (while it holds them, 24 h).
  statement {
    sid       = "ReadKeysOfCommandStream"
    actions   = ["dynamodb:GetShardIterator", "dynamodb:GetRecords"]
    resources = ["${var.operations.command_table_arn}/stream/*"]
  }

  # What the Projector does: read the items (BatchGetItem, GetItem), put or delete them
  # on a condition; a dead letter's read item is found by its delivery.
  statement {
    sid = "ProjectIntoReadModel"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:DeleteItem",
    ]
    resources = [var.operations.notification_table_arn]
  }

  statement {
    sid       = "FindReadItemOfDelivery"
    actions   = ["dynamodb:Query"]
    resources = [var.operations.delivery_index_arn]
  }

  # The counters move in one TransactWriteItems with the read item's put or delete; IAM
  # authorises each of its items by its own action.
  statement {
    sid       = "CountIntoStatistics"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.operations.stats_table_arn]
  }

  # dlq list/replay read and remove letters; the backfill sends what it cannot project.
  statement {
    sid = "ReadAndEmptyDeadLetterQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:SendMessage",
    ]
    resources = [var.operations.dead_letter_queue_arn]
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

resource "aws_iam_role_policy" "operations" {
  name   = "backfill-and-replay"
  role   = aws_iam_role.operations.id
  policy = data.aws_iam_policy_document.operations.json
}

resource "aws_ecs_task_definition" "operations" {
  family                   = "${var.service_name}-operations"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.operations.cpu)
  memory                   = tostring(var.operations.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.operations.arn
  container_definitions    = jsonencode([local.operations_container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  tags = var.tags
}

# The tasks reach only AWS's APIs (DynamoDB, SQS, ECR, CloudWatch Logs) over HTTPS, and
# nothing reaches them.
resource "aws_security_group" "operations" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: aws ecs run-task --network-configuration names it (output operations_network_configuration).
  name        = "${var.service_name}-operations"
  description = "One-off tasks of ${var.service_name}: no ingress, HTTPS out"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "operations_https" {
  security_group_id = aws_security_group.operations.id
  description       = "HTTPS to DynamoDB, SQS, ECR and CloudWatch Logs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
