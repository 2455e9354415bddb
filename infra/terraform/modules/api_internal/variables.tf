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

variable "lambda_invoke_arn" {
  type        = string
  description = "Query Result Lambda invoke ARN (for the proxy integrations)."
}

variable "stage_name" {
  type        = string
  description = "Stage name; part of INTERNAL_API_URL."
  default     = "v1"
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
