output "public_api_url" {
  description = "Base URL clients call: <this>/query/user, <this>/query/fail, <this>/query/tx, <this>/health."
  value       = module.api_public.invoke_url
}

output "internal_api_url" {
  description = "INTERNAL_API_URL of the ECS tasks (private API stage; resolves only inside the VPC)."
  value       = module.api_internal.invoke_url
}

output "ecs_handler_url" {
  description = "ECS_HANDLER_URL of the Query Lambda: the internal ALB in front of the ECS service."
  value       = "http://${module.ecs.alb_dns_name}"
}

output "ecr_repository_url" {
  description = "Repository to push the image to; image_uri is <this>:<tag>."
  value       = module.ecs.ecr_repository_url
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.ecs.cluster_name
}

output "service_name" {
  description = "ECS service."
  value       = module.ecs.service_name
}

output "ecs_log_group_name" {
  description = "Container logs: aws logs tail <this> --follow."
  value       = module.ecs.log_group_name
}

output "lambda_function_names" {
  description = "Function names by role."
  value       = module.lambdas.function_names
}

output "command_table_name" {
  description = "Write-model table (the push sender writes it)."
  value       = module.dynamodb.command_table_name
}

output "notification_table_name" {
  description = "Read-model table (every query reads it)."
  value       = module.dynamodb.notification_table_name
}

output "stream_dlq_arn" {
  description = "On-failure destination of the stream mapping."
  value       = module.lambdas.stream_dlq_arn
}

output "execute_api_vpc_endpoint_id" {
  description = "The interface endpoint the private API is bound to."
  value       = module.api_internal.vpc_endpoint_id
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm."
  value       = module.monitoring.alarm_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the whole path."
  value       = module.monitoring.dashboard_name
}

output "kms_key_arn" {
  description = "Customer managed key encrypting the data at rest."
  value       = aws_kms_key.this.arn
}

output "operations_task_definition_arn" {
  description = "One-off operations (backfill, dlq replay): aws ecs run-task --task-definition <this> (docs/operations.md)."
  value       = module.ecs.operations_task_definition_arn
}

output "operations_network_configuration" {
  description = "aws ecs run-task --network-configuration of the one-off operations tasks: the private subnets, their security group, no public IP."
  value       = "awsvpcConfiguration={subnets=[${join(",", module.ecs.subnet_ids)}],securityGroups=[${module.ecs.operations_security_group_id}],assignPublicIp=DISABLED}"
}

output "operations_subnet_ids" {
  description = "Private subnets of the one-off operations tasks."
  value       = module.ecs.subnet_ids
}

output "operations_security_group_id" {
  description = "Security group of the one-off operations tasks (no ingress, HTTPS out)."
  value       = module.ecs.operations_security_group_id
}

output "stream_dlq_url" {
  description = "URL of the stream mapping's dead-letter queue: STREAM_DLQ_URL, or --dlq-url."
  value       = module.lambdas.stream_dlq_url
}
