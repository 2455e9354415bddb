variable "name_prefix" {
  type        = string
  description = "Prefix of the alarm topic and the dashboard."
}

variable "alarm_name_prefix" {
  type        = string
  description = "Prefix of every alarm name. Empty keeps the brief's names (ECS-HighCPU, ...); set it when a second deployment shares the account and region."
  default     = ""
}

variable "region" {
  type        = string
  description = "AWS region of the metrics the dashboard shows."
}

variable "cluster_name" {
  type        = string
  description = "ECS cluster (ClusterName dimension)."
}

variable "service_name" {
  type        = string
  description = "ECS service (ServiceName dimension)."
}

variable "alb_arn_suffix" {
  type        = string
  description = "Internal ALB (LoadBalancer dimension)."
}

variable "target_group_arn_suffix" {
  type        = string
  description = "Target group of the ECS service (TargetGroup dimension)."
}

variable "lambda_function_names" {
  type        = map(string)
  description = "Function names by role (query_entry, query_result, stream_processor); each gets an errors and a throttles alarm."
}

variable "stream_function_name" {
  type        = string
  description = "Function the command-records stream feeds (its IteratorAge is watched)."
}

variable "table_names" {
  type        = map(string)
  description = "DynamoDB tables by role (command, notification, stats); each gets a throttling alarm."
}

variable "dlq_name" {
  type        = string
  description = "On-failure queue of the stream mapping; any message in it is an alarm."
}

variable "public_api_name" {
  type        = string
  description = "Public REST API (ApiName dimension)."
}

variable "public_api_stage_name" {
  type        = string
  description = "Stage of the public REST API (Stage dimension)."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed KMS key encrypting the alarm topic."
}

variable "alarm_email_addresses" {
  type        = list(string)
  description = "Email addresses subscribed to the alarm topic."
  default     = []
}

variable "cpu_threshold_percent" {
  type        = number
  description = "ECS-HighCPU: average service CPUUtilization above this, over 2 periods of 300 s."
  default     = 70
}

variable "memory_threshold_percent" {
  type        = number
  description = "ECS-HighMemory: average service MemoryUtilization above this, over 2 periods of 300 s."
  default     = 80
}

variable "cpu_target_percent" {
  type        = number
  description = "CPU utilization the service's autoscaling holds (the alarm's description names it)."
}

variable "memory_target_percent" {
  type        = number
  description = "Memory utilization the service's autoscaling holds (the alarm's description names it)."
}

variable "p99_latency_threshold_seconds" {
  type        = number
  description = "ALB-HighLatencyP99: p99 TargetResponseTime above this many seconds (the brief's 100 ms)."
  default     = 0.1
}

variable "error_rate_threshold_percent" {
  type        = number
  description = "ALB-5XXRate and API-5XXRate: share of requests answered 5XX above this percentage."
  default     = 1
}

variable "iterator_age_threshold_ms" {
  type        = number
  description = "Stream-IteratorAge: the projection lags the command table by more than this (maximum over a minute, 5 minutes running)."
  default     = 60000
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
