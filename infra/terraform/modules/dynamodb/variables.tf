variable "command_table_name" {
  type        = string
  description = "Write-model table: one item per delivery, keyed transaction_id + user_id."
}

variable "notification_table_name" {
  type        = string
  description = "Read-model table every query runs against, keyed user_id + sk."
}

variable "stats_table_name" {
  type        = string
  description = "Statistics read model: sharded delivery counters, keyed pk."
}

variable "kms_key_arn" {
  type        = string
  description = "Customer managed KMS key encrypting both tables."
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse DeleteTable on both tables."
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource of this module."
  default     = {}
}
