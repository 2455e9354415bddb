output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe a pager or chat integration to it)."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm this module creates."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.ecs_high_cpu.alarm_name,
      aws_cloudwatch_metric_alarm.ecs_high_memory.alarm_name,
      aws_cloudwatch_metric_alarm.alb_p99_latency.alarm_name,
      aws_cloudwatch_metric_alarm.alb_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.api_5xx_rate.alarm_name,
      aws_cloudwatch_metric_alarm.stream_iterator_age.alarm_name,
      aws_cloudwatch_metric_alarm.dlq_depth.alarm_name,
    ],
    [for alarm in aws_cloudwatch_metric_alarm.lambda : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.dynamodb_throttles : alarm.alarm_name],
  )
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the whole path."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
