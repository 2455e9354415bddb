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
# Alarms on one metric each, by key. Every alarm starts INSUFFICIENT_DATA and treats
# missing data as not breaching: a deployment whose tasks or functions have not reported
# yet is not an alarm (a service with no tasks shows in ALB-5XXRate and API-5XXRate).
# ---------------------------------------------------------------------------------------

locals {
  lambda_metric_alarms = {
    for pair in setproduct(keys(var.lambda_function_names), ["Errors", "Throttles"]) :
    "Lambda-${pair[1]}-${pair[0]}" => {
      # Errors: an invocation failed (an answered problem is not an error). Throttles:
      # concurrency is exhausted. Any of either is an alarm.
      description = "${var.lambda_function_names[pair[0]]}: ${pair[1]} in the last 5 minutes."
      namespace   = "AWS/Lambda"
      metric      = pair[1]
      dimensions  = { FunctionName = var.lambda_function_names[pair[0]] }
      statistic   = "Sum"
      period      = 300
      periods     = 1
      threshold   = 0
    }
  }

  metric_alarms = merge({
    # The brief's ECS-HighCPU: above the autoscaling target, so it means scaling cannot
    # keep up.
    "ECS-HighCPU" = {
      description = "Average CPU of ${var.service_name} above ${var.cpu_threshold_percent} % for 10 minutes (autoscaling holds ${var.cpu_target_percent} %: it cannot keep up)."
      namespace   = "AWS/ECS"
      metric      = "CPUUtilization"
      dimensions  = local.ecs_dimensions
      statistic   = "Average"
      period      = 300
      periods     = 2
      threshold   = var.cpu_threshold_percent
    }
    "ECS-HighMemory" = {
      description = "Average memory of ${var.service_name} above ${var.memory_threshold_percent} % for 10 minutes (autoscaling holds ${var.memory_target_percent} %): tasks risk OutOfMemory (raise task_memory)."
      namespace   = "AWS/ECS"
      metric      = "MemoryUtilization"
      dimensions  = local.ecs_dimensions
      statistic   = "Average"
      period      = 300
      periods     = 2
      threshold   = var.memory_threshold_percent
    }
    "ALB-HighLatencyP99" = {
      description = "p99 response time of ${var.service_name} above ${var.p99_latency_threshold_seconds * 1000} ms for 10 minutes."
      namespace   = "AWS/ApplicationELB"
      metric      = "TargetResponseTime"
      dimensions  = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
      statistic   = "p99"
      period      = 300
      periods     = 2
      threshold   = var.p99_latency_threshold_seconds
    }
    # What clients see: the public API's 5XXError averages to the share of 5XX answers.
    "API-5XXRate" = {
      description = "More than ${var.error_rate_threshold_percent} % of public API requests answered 5XX for 10 minutes."
      namespace   = "AWS/ApiGateway"
      metric      = "5XXError"
      dimensions  = { ApiName = var.public_api_name, Stage = var.public_api_stage_name }
      statistic   = "Average"
      period      = 300
      periods     = 2
      threshold   = var.error_rate_threshold_percent / 100
    }
    "Stream-IteratorAge" = {
      description = "notification-records lags command-records by more than ${var.iterator_age_threshold_ms / 1000} s: the projection is falling behind or stuck retrying."
      namespace   = "AWS/Lambda"
      metric      = "IteratorAge"
      dimensions  = { FunctionName = var.stream_function_name }
      statistic   = "Maximum"
      period      = 60
      periods     = 5
      threshold   = var.iterator_age_threshold_ms
    }
    "Stream-DLQ-NotEmpty" = {
      description = "Stream records could not be projected after every retry; their batches' descriptions wait in ${var.dlq_name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = var.dlq_name }
      statistic   = "Maximum"
      period      = 60
      periods     = 1
      threshold   = 0
    }
  }, local.lambda_metric_alarms)

  # Alarms on metric math: a sum or a share of several metrics.
  expression_alarms = merge({
    # 5XX answers (the tasks' and the ALB's own) as a percentage of all requests.
    "ALB-5XXRate" = {
      description = "More than ${var.error_rate_threshold_percent} % of requests to ${var.service_name} answered 5XX for 10 minutes."
      expression  = "IF(requests > 0, 100 * (FILL(target_5xx, 0) + FILL(elb_5xx, 0)) / requests, 0)"
      label       = "5XX rate (%)"
      periods     = 2
      threshold   = var.error_rate_threshold_percent
      metrics = {
        requests   = { namespace = "AWS/ApplicationELB", metric = "RequestCount", dimensions = { LoadBalancer = var.alb_arn_suffix } }
        target_5xx = { namespace = "AWS/ApplicationELB", metric = "HTTPCode_Target_5XX_Count", dimensions = { LoadBalancer = var.alb_arn_suffix } }
        elb_5xx    = { namespace = "AWS/ApplicationELB", metric = "HTTPCode_ELB_5XX_Count", dimensions = { LoadBalancer = var.alb_arn_suffix } }
      }
    }
    }, {
    for key, table in var.table_names : "DynamoDB-Throttles-${key}" => {
      description = "Requests to ${table} were throttled."
      expression  = "FILL(reads, 0) + FILL(writes, 0)"
      label       = "Throttle events"
      periods     = 1
      threshold   = 0
      metrics = {
        reads  = { namespace = "AWS/DynamoDB", metric = "ReadThrottleEvents", dimensions = { TableName = table } }
        writes = { namespace = "AWS/DynamoDB", metric = "WriteThrottleEvents", dimensions = { TableName = table } }
      }
    }
  })
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each = local.metric_alarms

  alarm_name          = "${local.p}${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = startswith(each.value.statistic, "p") ? null : each.value.statistic
  extended_statistic  = startswith(each.value.statistic, "p") ? each.value.statistic : null
  period              = each.value.period
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "expression" {
  for_each = local.expression_alarms

  alarm_name          = "${local.p}${each.key}"
  alarm_description   = each.value.description
  evaluation_periods  = each.value.periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topics
  ok_actions          = local.alarm_topics
  tags                = var.tags

  metric_query {
    id          = "result"
    expression  = each.value.expression
    label       = each.value.label
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id = metric_query.key
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimensions
        stat        = "Sum"
        period      = 300
      }
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
