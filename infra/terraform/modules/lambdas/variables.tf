variable "name_prefix" {
  type        = string
  description = "Prefix of every name in this module; functions are <prefix>-query-entry, <prefix>-query-result, <prefix>-stream-processor."
}

variable "iam_name_prefix" {
  type        = string
  description = "Prefix of the functions' IAM role names, unique per environment and region (IAM names are account-wide)."
  nullable    = false
}

variable "region" {
  type        = string
  description = "AWS region (used in ARNs this module builds)."
}

variable "package_dir" {
  type        = string
  description = "Directory holding query_entry.zip, query_result.zip and stream_processor.zip built by `make package`."
}

variable "powertools_layer_arn" {
  type        = string
  description = "Public Powertools for AWS Lambda (Python) v3 layer ARN for python3.12 x86_64 in this region."
}

variable "vpc_id" {
  type        = string
  description = "VPC query_entry runs in (the internal ALB's)."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets query_entry runs in."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed KMS key for environment variables, log groups and the dead-letter queue."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' log groups."
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of every function."
  default     = "INFO"
}

variable "ecs_handler_url" {
  type        = string
  description = "ECS_HANDLER_URL of query_entry: http://<internal ALB DNS name>."
}

variable "alb_security_group_id" {
  type        = string
  description = "Security group of the internal ALB, the only destination query_entry may open connections to."
}

variable "query_entry_request_timeout" {
  type        = number
  description = "REQUEST_TIMEOUT (seconds) of query_entry's call to the ECS service; below the public API's 29 s integration timeout."
  default     = 10
}

variable "command_table_name" {
  type        = string
  description = "COMMAND_TABLE_NAME."
}

variable "command_table_arn" {
  type        = string
  description = "ARN of the write-model table (its streams are under <arn>/stream/*)."
}

variable "command_table_stream_arn" {
  type        = string
  description = "Stream the projection consumes."
}

variable "notification_table_name" {
  type        = string
  description = "NOTIFICATION_TABLE_NAME."
}

variable "notification_table_arn" {
  type        = string
  description = "ARN of the read-model table."
}

variable "notification_query_index_arns" {
  type        = list(string)
  description = "ARNs of the read-model indexes query_result may Query."
}

variable "cursor_secret_parameter_name" {
  type        = string
  description = "Name of the SSM SecureString holding the cursor keys (CURSOR_SECRET_PARAMETER)."
  nullable    = false
}

variable "cursor_secret" {
  type        = string
  description = "Cursor HMAC keys, comma-separated (first signs, all verify), each at least 32 characters. Written to the parameter only when cursor_secret_version changes."
  sensitive   = true
  ephemeral   = true
  nullable    = false
}

variable "cursor_secret_version" {
  type        = number
  description = "Version of cursor_secret: raise it to write a new value (rotation)."
  nullable    = false
}

variable "stats_table_name" {
  type        = string
  description = "STATS_TABLE_NAME."
  nullable    = false
}

variable "stats_table_arn" {
  type        = string
  description = "ARN of the statistics table (stream_processor writes it, query_result reads it)."
  nullable    = false
}

variable "reserved_concurrency" {
  type        = map(number)
  description = "Reserved concurrent executions by function key (query_entry, query_result, stream_processor); a function not named is unreserved. Opt-in: a new account's concurrency quota (often 10) cannot give a reservation, and Lambda keeps 100 unreserved."
  default     = {}
  nullable    = false
}

variable "snap_start" {
  type        = bool
  description = "Lambda SnapStart on the published versions (python3.12 supports it in every commercial region except Asia Pacific (New Zealand) and (Taipei))."
  default     = true
  nullable    = false
}

variable "stream_batch_size" {
  type        = number
  description = "Stream records per invocation of stream_processor."
  default     = 100
}

variable "stream_maximum_batching_window_seconds" {
  type        = number
  description = "How long the event source mapping gathers records before invoking."
  default     = 1
}

variable "stream_maximum_retry_attempts" {
  type        = number
  description = "Retries of a failing batch (halved each time by bisect-on-error) before its records go to the dead-letter queue."
  default     = 5
}

variable "stream_maximum_record_age_seconds" {
  type        = number
  description = "Records older than this go to the dead-letter queue instead of being retried (stream retention is 24 h)."
  default     = 86400
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
