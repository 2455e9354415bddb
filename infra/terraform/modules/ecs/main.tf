# The ECS handler on Fargate (MISSION item 1), one file per thing an operator looks at:
# registry.tf (ECR), cluster.tf, task.tf (container, roles, task definition), service.tf
# (service, its network, autoscaling), load_balancer.tf (internal ALB, its access logs).
# The Query Lambda reaches the service at http://<alb dns>; the service reaches the
# private API with SigV4 (INTERNAL_API_AUTH=iam).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_elb_service_account" "current" {}

locals {
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  container_name = "ecs-handler"
  log_group_name = "/ecs/${var.service_name}"
  # ALB and target group names are limited to 32 characters.
  alb_name = substr("${var.service_name}-internal", 0, 32)
  tg_name  = substr("${var.service_name}-tg", 0, 32)
}
