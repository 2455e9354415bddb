variable "name" {
  type        = string
  description = "Name of the public REST API and prefix of its other resources."
}

variable "lambda_function_name" {
  type        = string
  description = "Query Lambda function name (for the invoke permission)."
}

variable "lambda_qualifier" {
  type        = string
  description = "Alias of the Query Lambda the integrations call."
  nullable    = false
}

variable "lambda_invoke_arn" {
  type        = string
  description = "Query Lambda invoke ARN (for the proxy integrations)."
}

variable "stage_name" {
  type        = string
  description = "Stage name; clients call https://<api-id>.execute-api.<region>.amazonaws.com/<stage>/query/user."
  default     = "v1"
}

variable "throttle_rate_limit" {
  type        = number
  description = "Stage-wide steady-state requests per second."
}

variable "throttle_burst_limit" {
  type        = number
  description = "Stage-wide burst requests."
}

variable "api_key_required" {
  type        = bool
  description = "Require x-api-key on every method, with a usage plan (per-key throttling and quota) and one key."
  default     = false
}

variable "usage_plan_quota_per_day" {
  type        = number
  description = "Requests per day per API key (only when api_key_required)."
  default     = 1000000
}

variable "waf_rate_limit" {
  type        = number
  description = "Requests one client IP may send in 5 minutes before the web ACL blocks it."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key encrypting the API's and the web ACL's log groups."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the log groups."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
