locals {
  container = {
    name                   = local.container_name
    image                  = var.image_uri
    essential              = true
    user                   = "10001:10001" # the image's non-root user
    readonlyRootFilesystem = true
    privileged             = false
    stopTimeout            = 30 # after SIGTERM uvicorn finishes the requests in flight

    portMappings = [{
      name          = "http"
      containerPort = var.container_port
      hostPort      = var.container_port
      protocol      = "tcp"
    }]

    environment = [
      { name = "ENVIRONMENT", value = "production" },
      { name = "SERVICE_NAME", value = var.service_name },
      { name = "INTERNAL_API_URL", value = var.internal_api_url },
      { name = "INTERNAL_API_AUTH", value = "iam" },
      { name = "REQUEST_TIMEOUT", value = tostring(var.request_timeout) },
      { name = "AWS_DEFAULT_REGION", value = var.region },
      { name = "LOG_LEVEL", value = var.log_level },
      # The support console believes only this load balancer's signed identity (console.tf).
      { name = "CONSOLE_AUTH", value = "alb" },
      { name = "CONSOLE_ALB_ARN", value = aws_lb.this.arn },
    ]

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.log_group_name
        awslogs-region        = var.region
        awslogs-stream-prefix = "ecs"
      }
    }

    # The image has no curl; its Python asks /health.
    healthCheck = {
      command = [
        "CMD",
        "python",
        "-c",
        "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:${var.container_port}/health', timeout=3).status != 200)",
      ]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 15
    }

    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }

    # The root filesystem is read-only; /tmp is a task-scoped scratch volume.
    mountPoints = [{
      sourceVolume  = "tmp"
      containerPath = "/tmp"
      readOnly      = false
    }]

    ulimits = [{
      name      = "nofile"
      softLimit = 65536
      hardLimit = 65536
    }]
  }
}

# ---------------------------------------------------------------------------------------
# Roles: the execution role pulls the image and writes logs; the task role may invoke
# the private API and nothing else.
# ---------------------------------------------------------------------------------------

# The task execution role's trust policy as the ECS documentation gives it, without
# condition keys: the documentation names none for it, and a condition on a key the service
# does not send would keep every task from starting.
data "aws_iam_policy_document" "assume_ecs_execution" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The task role: the ECS documentation recommends aws:SourceAccount / aws:SourceArn in its
# trust policy against the confused deputy.
data "aws_iam_policy_document" "assume_ecs_task" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.iam_name_prefix}-ecs-execution"
  description        = "ECS execution role of ${var.service_name}: pull the image, write the logs"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_execution.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrAuthHasNoResourceLevelPermissions"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullOwnImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [aws_ecr_repository.this.arn]
  }

  statement {
    sid       = "DecryptOwnImage"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ecr.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service.arn}:*"]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-image-write-logs"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.iam_name_prefix}-ecs-task"
  description        = "ECS task role of ${var.service_name}: invoke the private API"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_task.json
  tags               = var.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid     = "InvokePrivateApiRoutes"
    actions = ["execute-api:Invoke"]
    resources = [
      "${var.internal_api_execution_arn}/${var.internal_api_stage_name}/POST/query/*",
      "${var.internal_api_execution_arn}/${var.internal_api_stage_name}/GET/health",
    ]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "invoke-private-api"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---------------------------------------------------------------------------------------
# Task definition
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_cpu)
  memory                   = tostring(var.task_memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode([local.container])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp"
  }

  tags = var.tags
}
