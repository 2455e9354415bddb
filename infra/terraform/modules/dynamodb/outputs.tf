output "command_table_name" {
  description = "Write-model table name."
  value       = aws_dynamodb_table.command.name
}

output "command_table_arn" {
  description = "Write-model table ARN."
  value       = aws_dynamodb_table.command.arn
}

output "command_table_stream_arn" {
  description = "ARN of the write-model table's stream (NEW_AND_OLD_IMAGES)."
  value       = aws_dynamodb_table.command.stream_arn
}

output "notification_table_name" {
  description = "Read-model table name."
  value       = aws_dynamodb_table.notification.name
}

output "notification_table_arn" {
  description = "Read-model table ARN."
  value       = aws_dynamodb_table.notification.arn
}

output "notification_query_index_arns" {
  description = "ARNs of the read-model indexes a query uses (marketing_id-index is not one of them)."
  value = [
    "${aws_dynamodb_table.notification.arn}/index/transaction_id-index",
    "${aws_dynamodb_table.notification.arn}/index/failures-index",
  ]
}

output "notification_delivery_index_arn" {
  description = "ARN of the read-model index that finds a delivery's read item by its command key."
  value       = "${aws_dynamodb_table.notification.arn}/index/delivery-index"
}

output "stats_table_name" {
  description = "Statistics table name."
  value       = aws_dynamodb_table.stats.name
}

output "stats_table_arn" {
  description = "Statistics table ARN."
  value       = aws_dynamodb_table.stats.arn
}
