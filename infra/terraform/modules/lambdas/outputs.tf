output "function_names" {
  description = "Function names by role: query_entry, query_result, stream_processor."
  value       = { for key, fn in aws_lambda_function.this : key => fn.function_name }
}

output "function_arns" {
  description = "Function ARNs by role."
  value       = { for key, fn in aws_lambda_function.this : key => fn.arn }
}

output "query_entry_function_name" {
  description = "Name of the Query Lambda (public API backend)."
  value       = aws_lambda_function.this["query_entry"].function_name
}

output "query_entry_invoke_arn" {
  description = "Invoke ARN of the Query Lambda's live alias for an API Gateway integration."
  value       = aws_lambda_alias.live["query_entry"].invoke_arn
}

output "query_entry_security_group_id" {
  description = "Security group of the Query Lambda; the internal ALB admits only this group."
  value       = aws_security_group.query_entry.id
}

output "query_result_function_name" {
  description = "Name of the Query Result Lambda (private API backend)."
  value       = aws_lambda_function.this["query_result"].function_name
}

output "query_result_invoke_arn" {
  description = "Invoke ARN of the Query Result Lambda's live alias for an API Gateway integration."
  value       = aws_lambda_alias.live["query_result"].invoke_arn
}

output "stream_processor_function_name" {
  description = "Name of the projection function the stream feeds."
  value       = aws_lambda_function.this["stream_processor"].function_name
}

output "stream_dlq_name" {
  description = "Dead-letter queue of the stream mapping."
  value       = aws_sqs_queue.stream_dlq.name
}

output "stream_dlq_arn" {
  description = "ARN of the stream mapping's dead-letter queue."
  value       = aws_sqs_queue.stream_dlq.arn
}

output "alias_name" {
  description = "Alias of every function the integrations and the stream mapping call (lambda permissions are granted on it)."
  value       = "live"
}

output "stream_dlq_url" {
  description = "URL of the stream mapping's dead-letter queue (STREAM_DLQ_URL of the one-off tasks)."
  value       = aws_sqs_queue.stream_dlq.id
}

output "projection_environment" {
  description = "The Stream Processor's environment: whatever projects as it does (the one-off operations tasks) runs with it."
  value       = { for name, value in local.functions.stream_processor.environment : name => value if name != "LOG_LEVEL" }
}
