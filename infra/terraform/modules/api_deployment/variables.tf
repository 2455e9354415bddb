variable "api_name" {
  type        = string
  description = "Name of the REST API (names its access log group)."
  nullable    = false
}

variable "rest_api_id" {
  type        = string
  description = "ID of the REST API the stage belongs to."
  nullable    = false
}

variable "execution_arn" {
  type        = string
  description = "Execution ARN of the REST API (the Lambda permission's source)."
  nullable    = false
}

variable "description" {
  type        = string
  description = "Description of the API's deployments."
  nullable    = false
}

variable "routes" {
  type = map(object({
    resource_id      = string
    http_method      = string
    authorization    = string
    api_key_required = optional(bool, false)
  }))
  description = "Methods by key, each a Lambda proxy integration to lambda_invoke_arn."
  nullable    = false
}

variable "redeployment_triggers" {
  type        = list(string)
  description = "Other values whose change needs a new deployment (a private API's resource policy takes effect only with one)."
  default     = []
  nullable    = false
}

variable "lambda_invoke_arn" {
  type        = string
  description = "Invoke ARN of the function alias every integration calls."
  nullable    = false
}

variable "stage_name" {
  type        = string
  description = "Stage name; part of the invoke URL."
  nullable    = false
}

variable "access_log_fields" {
  type        = map(string)
  description = "Access log fields of this API beyond the common ones (name -> $context variable)."
  default     = {}
  nullable    = false
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

variable "lambda_function_name" {
  type        = string
  description = "Function every integration of the API calls (for the invoke permission)."
  nullable    = false
}

variable "lambda_qualifier" {
  type        = string
  description = "Alias of that function the integrations call; the permission is granted on it."
  nullable    = false
}

variable "permission_statement_id" {
  type        = string
  description = "Statement ID of the invoke permission in the function's policy."
  nullable    = false
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key encrypting the stage's log groups."
  nullable    = false
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the stage's log groups."
  nullable    = false
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
  nullable    = false
}
