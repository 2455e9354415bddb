# The brief's targets (MISSION item 9) as alarms: CPU < 70 %, memory < 80 %, response time
# < 100 ms, error rate < 1 %; plus what keeps the read model honest: Lambda errors and
# throttles, DynamoDB throttling, the stream's iterator age and the dead-letter queue.
# Every alarm notifies one encrypted SNS topic; one dashboard shows the whole path.

locals {
  p            = var.alarm_name_prefix
  alarm_topics = [aws_sns_topic.alarms.arn]

  ecs_dimensions = {
    ClusterName = var.cluster_name
    ServiceName = var.service_name
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ---------------------------------------------------------------------------------------
# ECS service
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "ecs_high_cpu" {
  alarm_name          = "${local.p}ECS-HighCPU"
  alarm_description   = "Average CPU of ${var.service_name} above ${var.cpu_threshold_percent} % for 10 minutes (autoscaling targets 70 %; this means it cannot keep up)."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = local.ecs_dimensions
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.cpu_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching" # no datapoints: no running task
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "ecs_high_memory" {
  alarm_name          = "${local.p}ECS-HighMemory"
  alarm_description   = "Average memory of ${var.service_name} above ${var.memory_threshold_percent} % for 10 minutes: tasks risk OutOfMemory (raise task_memory)."
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = local.ecs_dimensions
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.memory_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------
# Internal ALB in front of the service
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "alb_p99_latency" {
  alarm_name          = "${local.p}ALB-HighLatencyP99"
  alarm_description   = "p99 response time of ${var.service_name} above ${var.p99_latency_threshold_seconds * 1000} ms for 10 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  extended_statistic  = "p99"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  period              = 300
  evaluation_periods  = 2
  threshold           = var.p99_latency_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching" # no requests, no latency
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

# 5XX answers (the tasks' and the ALB's own) as a percentage of all requests.
resource "aws_cloudwatch_metric_alarm" "alb_5xx_rate" {
  alarm_name          = "${local.p}ALB-5XXRate"
  alarm_description   = "More than ${var.error_rate_threshold_percent} % of requests to ${var.service_name} answered 5XX for 10 minutes."
  evaluation_periods  = 2
  threshold           = var.error_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags

  metric_query {
    id          = "error_rate"
    expression  = "IF(requests > 0, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / requests, 0)"
    label       = "5XX rate (%)"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "target_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "elb_5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      stat        = "Sum"
      period      = 300
    }
  }
}

# What clients see: the public API's 5XXError averages to the share of 5XX answers.
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.p}API-5XXRate"
  alarm_description   = "More than ${var.error_rate_threshold_percent} % of public API requests answered 5XX for 10 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = var.public_api_name, Stage = var.public_api_stage_name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.error_rate_threshold_percent / 100
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------
# Lambdas
# ---------------------------------------------------------------------------------------

# Errors: an invocation failed (an answered problem is not an error). Throttles: the
# function's reserved concurrency is exhausted. Any of either is an alarm.
resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = {
    for pair in setproduct(keys(var.lambda_function_names), ["Errors", "Throttles"]) :
    "${pair[1]}-${pair[0]}" => { function = var.lambda_function_names[pair[0]], metric = pair[1] }
  }

  alarm_name          = "${local.p}Lambda-${each.key}"
  alarm_description   = "${each.value.function}: ${each.value.metric} in the last 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------
# Projection: stream lag and the dead-letter queue
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "stream_iterator_age" {
  alarm_name          = "${local.p}Stream-IteratorAge"
  alarm_description   = "notification-records lags command-records by more than ${var.iterator_age_threshold_ms / 1000} s: the projection is falling behind or stuck retrying."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = var.stream_function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.iterator_age_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  alarm_name          = "${local.p}Stream-DLQ-NotEmpty"
  alarm_description   = "Stream records could not be projected after every retry; their batches' descriptions wait in ${var.dlq_name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

# ---------------------------------------------------------------------------------------
# DynamoDB
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = var.table_names

  alarm_name          = "${local.p}DynamoDB-Throttles-${each.key}"
  alarm_description   = "Requests to ${each.value} were throttled."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags

  metric_query {
    id          = "throttle_events"
    expression  = "FILL(reads, 0) + FILL(writes, 0)"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = each.value }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "writes"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = each.value }
      stat        = "Sum"
      period      = 300
    }
  }
}

# ---------------------------------------------------------------------------------------
# One dashboard, top to bottom in the order a request travels
# ---------------------------------------------------------------------------------------

locals {
  lambda_names = values(var.lambda_function_names)

  dashboard_widgets = [
    {
      title = "Public API: requests and 5XX rate"
      metrics = [
        ["AWS/ApiGateway", "Count", "ApiName", var.public_api_name, "Stage", var.public_api_stage_name, { stat = "Sum" }],
        ["AWS/ApiGateway", "5XXError", "ApiName", var.public_api_name, "Stage", var.public_api_stage_name, { stat = "Average", yAxis = "right" }],
      ]
    },
    {
      title = "ECS service: CPU and memory (%)"
      metrics = [
        ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", var.service_name, { stat = "Average" }],
        ["AWS/ECS", "MemoryUtilization", "ClusterName", var.cluster_name, "ServiceName", var.service_name, { stat = "Average" }],
      ]
    },
    {
      title = "Internal ALB: p99 response time (s)"
      metrics = [
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p99" }],
        ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p50" }],
      ]
    },
    {
      title = "Internal ALB: requests and 5XX"
      metrics = [
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
        ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
        ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { stat = "Sum" }],
      ]
    },
    {
      title = "Lambda errors and throttles"
      metrics = concat(
        [for name in local.lambda_names : ["AWS/Lambda", "Errors", "FunctionName", name, { stat = "Sum" }]],
        [for name in local.lambda_names : ["AWS/Lambda", "Throttles", "FunctionName", name, { stat = "Sum" }]],
      )
    },
    {
      title   = "Lambda duration p99 (ms)"
      metrics = [for name in local.lambda_names : ["AWS/Lambda", "Duration", "FunctionName", name, { stat = "p99" }]]
    },
    {
      title = "DynamoDB throttle events"
      metrics = concat(
        [for name in values(var.table_names) : ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", name, { stat = "Sum" }]],
        [for name in values(var.table_names) : ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", name, { stat = "Sum" }]],
      )
    },
    {
      title = "Projection: iterator age (ms) and dead-letter queue"
      metrics = [
        ["AWS/Lambda", "IteratorAge", "FunctionName", var.stream_function_name, { stat = "Maximum" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name, { stat = "Maximum", yAxis = "right" }],
      ]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      for index, widget in local.dashboard_widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = var.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          metrics = widget.metrics
        }
      }
    ]
  })
}
