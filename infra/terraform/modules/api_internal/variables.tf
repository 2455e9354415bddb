variable "name" {
  type        = string
  description = "Name of the private REST API and prefix of its other resources."
}

variable "region" {
  type        = string
  description = "AWS region (the execute-api endpoint service is regional)."
}

variable "vpc_id" {
  type        = string
  description = "VPC the execute-api interface endpoint is created in."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the endpoint's network interfaces."
}

variable "client_security_group_id" {
  type        = string
  description = "Security group allowed to reach the endpoint on 443: the ECS tasks'."
}

variable "invoker_role_arns" {
  type        = list(string)
  description = "IAM roles the resource policy lets invoke the API (the ECS task role); every request must also come through the endpoint."
}

variable "lambda_function_name" {
  type        = string
  description = "Query Result Lambda function name (for the invoke permission)."
}

variable "lambda_qualifier" {
  type        = string
  description = "Alias of the Query Result Lambda the integrations call."
  nullable    = false
}

variable "lambda_invoke_arn" {
  type        = string
  description = "Query Result Lambda invoke ARN (for the proxy integrations)."
}

variable "stage_name" {
  type        = string
  description = "Stage name; part of INTERNAL_API_URL."
  default     = "v1"
}

variable "throttle_rate_limit" {
  type        = number
  description = "Stage-wide steady-state requests per second."
  nullable    = false
}

variable "throttle_burst_limit" {
  type        = number
  description = "Stage-wide burst requests."
  nullable    = false
}

variable "private_dns_enabled" {
  type        = bool
  description = "Private DNS on the execute-api endpoint: resolves every execute-api hostname called from the VPC (other teams' public APIs too) to it. Off, the tasks call the API by its endpoint-specific hostname."
  default     = false
  nullable    = false
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key encrypting the API's log groups."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the API's log groups."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
