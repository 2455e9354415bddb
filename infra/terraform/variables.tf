# Inputs of the whole deployment. envs/example.tfvars shows a real one.

variable "region" {
  type        = string
  description = "AWS region everything is created in."
  default     = "ap-southeast-1"
}

variable "environment" {
  type        = string
  description = "Deployment stage label (prod, staging, ...), used in tags and in the account-wide names (IAM roles, the log bucket, the cursor parameter). The application itself always runs with ENVIRONMENT=production on AWS: the mode that refuses laptop endpoints."
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,9}$", var.environment))
    error_message = "environment: 1 to 10 lowercase letters, digits or hyphens (it is part of IAM and S3 names)."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC holding the ECS tasks, the internal ALB, the Lambdas and the execute-api endpoint."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets (two or more Availability Zones) for tasks, ALB, Lambdas and the VPC endpoint. They need a route to ECR, CloudWatch Logs and DynamoDB (NAT gateway or VPC endpoints)."

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two Availability Zones."
  }
}

variable "cluster_name" {
  type        = string
  description = "ECS cluster name."
  default     = "query-service-cluster"
}

variable "service_name" {
  type        = string
  description = "ECS service name; also the task definition family, the ECR repository, the log group /ecs/<service_name> and the prefix of every other name."
  default     = "query-service"
}

variable "image_uri" {
  type        = string
  description = "Image the ECS service runs, e.g. <account>.dkr.ecr.<region>.amazonaws.com/query-service:<git sha>. Tags are immutable: push a new tag per build."

  validation {
    condition     = length(var.image_uri) > 0 && !endswith(var.image_uri, ":latest")
    error_message = "image_uri must name an immutable tag or digest, not :latest."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every resource (merged with Service and Environment)."
  default     = {}
}

variable "command_table_name" {
  type        = string
  description = "DynamoDB write-model table (COMMAND_TABLE_NAME)."
  default     = "command-records"
}

variable "notification_table_name" {
  type        = string
  description = "DynamoDB read-model table (NOTIFICATION_TABLE_NAME)."
  default     = "notification-records"
}

variable "stats_table_name" {
  type        = string
  description = "DynamoDB statistics table (STATS_TABLE_NAME)."
  default     = "delivery-stats"
}

variable "deletion_protection" {
  type        = bool
  description = "Protect the tables and the ALB from deletion. Turn off only to tear a test deployment down."
  default     = true
}

variable "lambda_package_dir" {
  type        = string
  description = "Directory holding query_entry.zip, query_result.zip and stream_processor.zip (`make package`). Null means <repo>/dist."
  default     = null
}

variable "powertools_version" {
  type        = string
  description = "Version of the public Powertools for AWS Lambda (Python) layer the functions get; keep it equal to aws-lambda-powertools in uv.lock (a test checks). Its ARN is read from the public SSM parameter /aws/service/powertools/python/x86_64/python3.12/<version>."
  default     = "3.37.0"
}

variable "powertools_layer_arn" {
  type        = string
  description = "Powertools layer ARN to use instead of looking powertools_version up, e.g. arn:aws:lambda:<region>:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:<n>."
  default     = null
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every CloudWatch log group (and of the ALB access logs)."
  default     = 365
}

variable "desired_count" {
  type        = number
  description = "ECS tasks at deployment; autoscaling moves it between min_capacity and max_capacity."
  default     = 2
}

variable "min_capacity" {
  type        = number
  description = "Fewest ECS tasks autoscaling keeps."
  default     = 2
}

variable "max_capacity" {
  type        = number
  description = "Most ECS tasks autoscaling starts."
  default     = 10
}

variable "public_api_throttle_rate_limit" {
  type        = number
  description = "Public API steady-state requests per second (stage-wide)."
  default     = 200
}

variable "public_api_throttle_burst_limit" {
  type        = number
  description = "Public API burst requests (stage-wide)."
  default     = 400
}

variable "public_api_key_required" {
  type        = bool
  description = "Require an API key (x-api-key) on the public API. Off keeps today's client contract; on adds a usage plan with per-key throttling and one key."
  default     = false
}

variable "waf_rate_limit_per_5min" {
  type        = number
  description = "Requests one client IP may send to the public API in 5 minutes before WAF blocks it."
  default     = 3000
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription)."
  default     = []
}

variable "alarm_name_prefix" {
  type        = string
  description = "Prefix of every alarm name. Empty keeps the brief's names (ECS-HighCPU, ...); set it when a second deployment shares the account and region."
  default     = ""
}

variable "manage_api_gateway_account" {
  type        = bool
  description = "Set the region's API Gateway CloudWatch role (aws_api_gateway_account, one per account and region; both stages log through it). Off by default, so another stack's setting is not overwritten; turn it on in the one stack of an account and region that has no role yet, or the stages fail to apply with 'CloudWatch Logs role ARN must be set in account settings'."
  default     = false
  nullable    = false
}

variable "lambda_reserved_concurrency" {
  type        = map(number)
  description = "Reserved concurrent executions by function (query_entry, query_result, stream_processor), e.g. { stream_processor = 10 }. Empty: every function unreserved, because a new account's quota cannot give reservations (Lambda keeps 100 of it unreserved)."
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.lambda_reserved_concurrency) : contains(["query_entry", "query_result", "stream_processor"], key)])
    error_message = "lambda_reserved_concurrency: keys are query_entry, query_result, stream_processor."
  }
}

variable "lambda_snap_start" {
  type        = bool
  description = "Lambda SnapStart for the three python3.12 functions (published versions behind the alias live). Supported in every commercial region except Asia Pacific (New Zealand) and Asia Pacific (Taipei); turn it off there, or to compare cold starts."
  default     = true
  nullable    = false

  validation {
    condition     = !var.lambda_snap_start || !contains(["ap-southeast-6", "ap-east-2"], var.region)
    error_message = "Lambda SnapStart is not available in ap-southeast-6 (New Zealand) or ap-east-2 (Taipei): set lambda_snap_start = false."
  }
}

variable "internal_api_throttle_rate_limit" {
  type        = number
  description = "Private API steady-state requests per second (stage-wide)."
  default     = 1000
}

variable "internal_api_throttle_burst_limit" {
  type        = number
  description = "Private API burst requests (stage-wide)."
  default     = 2000
}

variable "execute_api_private_dns_enabled" {
  type        = bool
  description = "Private DNS on the execute-api VPC endpoint. Off by default: on, every execute-api hostname called from the VPC (other teams' APIs included) resolves to this endpoint. Off, the tasks call the private API by its endpoint-specific hostname."
  default     = false
  nullable    = false
}

variable "cursor_secret" {
  type        = string
  description = "HMAC keys of the paging cursors, comma-separated: the first signs new cursors, every one verifies (rotation, docs/operations.md). Each key at least 32 characters, e.g. from `openssl rand -base64 48`. Ephemeral: written to the SSM SecureString when cursor_secret_version changes and kept in neither plan nor state; pass it as TF_VAR_cursor_secret."
  sensitive   = true
  ephemeral   = true
  nullable    = false

  validation {
    condition     = alltrue([for key in split(",", var.cursor_secret) : length(trimspace(key)) >= 32])
    error_message = "cursor_secret: every comma-separated key must be at least 32 characters."
  }
}

variable "cursor_secret_version" {
  type        = number
  description = "Raise by one to write a new cursor_secret (rotation); Terraform writes the value only when this changes."
  default     = 1
  nullable    = false
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
  description = "The support console: an HTTPS listener on the internal ALB (certificate_arn) whose /console* rule signs staff in with the company's OpenID Connect provider (issuer, endpoints, client_id, client_secret_arn: a Secrets Manager secret holding the client secret) from the security groups and managed prefix lists named (allowed_security_group_ids, allowed_prefix_list_ids). null (the default): no console listener or rule."
  default     = null

  validation {
    condition = var.console == null || length(concat(
      try(var.console.allowed_security_group_ids, []), try(var.console.allowed_prefix_list_ids, [])
    )) > 0
    error_message = "console: name at least one of allowed_security_group_ids or allowed_prefix_list_ids, or nobody can reach it."
  }
}
