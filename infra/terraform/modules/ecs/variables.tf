variable "cluster_name" {
  type        = string
  description = "ECS cluster name."
}

variable "service_name" {
  type        = string
  description = "ECS service name; also the task definition family, the ECR repository and the log group /ecs/<service_name>."
}

variable "iam_name_prefix" {
  type        = string
  description = "Prefix of the IAM role names, unique per environment and region (IAM names are account-wide)."
  nullable    = false
}

variable "alb_log_bucket_name" {
  type        = string
  description = "Name of the ALB access-log bucket (S3 names are unique in all of AWS)."
  nullable    = false
}

variable "image_uri" {
  type        = string
  description = "Image of the ecs-handler container (from this module's ECR repository)."
}

variable "region" {
  type        = string
  description = "AWS region (AWS_DEFAULT_REGION of the container, awslogs region)."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the tasks and the internal ALB."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the tasks and the internal ALB."
}

variable "client_security_group_id" {
  type        = string
  description = "Security group whose members may call the internal ALB: the Query Lambda's, and no other."
}

variable "internal_api_url" {
  type        = string
  description = "INTERNAL_API_URL: invoke URL of the private API's stage."
}

variable "internal_api_execution_arn" {
  type        = string
  description = "Execution ARN of the private API; the task role may invoke it and nothing else."
}

variable "internal_api_stage_name" {
  type        = string
  description = "Stage of the private API the task role may invoke."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for ECR, the log groups and ECS Exec sessions."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the log groups and of the ALB access logs."
}

variable "task_cpu" {
  type        = number
  description = "Task CPU units (256 = 0.25 vCPU)."
  default     = 256
}

variable "task_memory" {
  type        = number
  description = "Task memory, MiB. Raise it (with a matching task_cpu) if tasks stop with OutOfMemory."
  default     = 512
}

variable "container_port" {
  type        = number
  description = "Port uvicorn listens on in the container."
  default     = 8000
}

variable "request_timeout" {
  type        = number
  description = "REQUEST_TIMEOUT (seconds) of the container's calls to the private API."
  default     = 30
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of the container."
  default     = "INFO"
}

variable "desired_count" {
  type        = number
  description = "Tasks at creation; afterwards autoscaling owns the count."
  default     = 2
}

variable "min_capacity" {
  type        = number
  description = "Fewest tasks autoscaling keeps."
  default     = 2
}

variable "max_capacity" {
  type        = number
  description = "Most tasks autoscaling starts."
  default     = 10
}

variable "cpu_target_percent" {
  type        = number
  description = "Average service CPU utilization autoscaling holds; below the ECS-HighCPU alarm's 70 %, so the alarm means scaling cannot keep up, not that it is at work."
  default     = 60
}

variable "memory_target_percent" {
  type        = number
  description = "Average service memory utilization autoscaling holds; below the ECS-HighMemory alarm's 80 %."
  default     = 70
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the ALB from deletion."
  default     = true
}

variable "ecr_keep_images" {
  type        = number
  description = "Images the ECR lifecycle policy keeps (older ones expire)."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}

variable "console" {
  type = object({
    certificate_arn        = string
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    client_secret_arn      = string
    # Who reaches the listener: security groups (a Client VPN endpoint's, a bastion's)
    # and managed prefix lists (the offices' networks); never a raw CIDR.
    allowed_security_group_ids = optional(list(string), [])
    allowed_prefix_list_ids    = optional(list(string), [])
    session_timeout            = optional(number, 28800)
  })
  description = "The support console's HTTPS listener and OIDC sign-in (certificate ARN, the provider's issuer and endpoints, client id, the Secrets Manager ARN of the client secret, the security groups and prefix lists support staff come from); null: no console listener or rule."
  default     = null
}

variable "operations" {
  type = object({
    # The Stream Processor's settings (tables, statistics, retention): the one-off tasks
    # project exactly as it does.
    environment            = map(string)
    command_table_arn      = string
    notification_table_arn = string
    delivery_index_arn     = string
    stats_table_arn        = string
    dead_letter_queue_arn  = string
    dead_letter_queue_url  = string
    cpu                    = optional(number, 512)
    memory                 = optional(number, 1024)
  })
  nullable    = false
  description = "The one-off operations task (backfill, dlq replay): the projection's environment, the tables and the dead-letter queue it may use, its CPU units and memory (MiB)."
}
