output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe a pager or chat integration to it)."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Names of every alarm this module creates."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.metric : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.expression : alarm.alarm_name],
  )
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the whole path."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
