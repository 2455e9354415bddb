output "ecr_repository_url" {
  description = "Where `docker push` sends the image: <account>.dkr.ecr.<region>.amazonaws.com/<service_name>."
  value       = aws_ecr_repository.this.repository_url
}

output "cluster_name" {
  description = "ECS cluster name (the ClusterName dimension of the service's metrics)."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "ECS service name (the ServiceName dimension of the service's metrics)."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "Task definition revision the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "Task role: the only principal the private API lets in."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "Execution role (image pull, log writes)."
  value       = aws_iam_role.execution.arn
}

output "task_security_group_id" {
  description = "Security group of the tasks; the execute-api endpoint admits only this group."
  value       = aws_security_group.tasks.id
}

output "alb_security_group_id" {
  description = "Security group of the internal ALB; the Query Lambda may connect only to it."
  value       = aws_security_group.alb.id
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB; the Query Lambda's ECS_HANDLER_URL is http://<this>."
  value       = aws_lb.this.dns_name
}

output "alb_arn_suffix" {
  description = "ALB ARN suffix (the LoadBalancer dimension of its metrics)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "Target group ARN suffix (the TargetGroup dimension of its metrics)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "log_group_name" {
  description = "Log group of the container: `aws logs tail <this> --follow`."
  value       = aws_cloudwatch_log_group.service.name
}

output "cpu_target_percent" {
  description = "CPU utilization autoscaling holds (below the ECS-HighCPU threshold)."
  value       = var.cpu_target_percent
}

output "memory_target_percent" {
  description = "Memory utilization autoscaling holds (below the ECS-HighMemory threshold)."
  value       = var.memory_target_percent
}

output "operations_task_definition_arn" {
  description = "Task definition of the one-off operations (backfill, dlq replay): aws ecs run-task --task-definition <this>."
  value       = aws_ecs_task_definition.operations.arn
}

output "operations_security_group_id" {
  description = "Security group of the one-off operations tasks: no ingress, HTTPS out."
  value       = aws_security_group.operations.id
}

output "operations_role_arn" {
  description = "Task role of the one-off operations tasks."
  value       = aws_iam_role.operations.arn
}

output "subnet_ids" {
  description = "Private subnets the tasks run in (the service's and the one-off tasks')."
  value       = var.subnet_ids
}
