# The tables of ARCHITECTURE §5 and the statistics read model (docs/capacity.md). src/query_service/storage/tables.py defines the same
# tables for the local stack; tests/infra/test_table_drift.py fails on any difference in
# keys, attribute types, indexes or stream view type.

resource "aws_dynamodb_table" "command" {
  name                        = var.command_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "transaction_id"
  range_key                   = "user_id"
  deletion_protection_enabled = var.deletion_protection

  # The projection (stream_processor) needs both images: the new one to write the read
  # item, the old one to find what a REMOVE deletes.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  # The push sender sets expires_at (created_at + RETENTION_DAYS, epoch seconds); the
  # deletions of the TTL sweep reach the read side as REMOVEs on the stream.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  attribute {
    name = "transaction_id"
    type = "S"
  }

  attribute {
    name = "user_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "notification" {
  name                        = var.notification_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "user_id"
  range_key                   = "sk" # f"{created_at:013d}#{transaction_id}"
  deletion_protection_enabled = var.deletion_protection

  # Set by the projection (created_at + RETENTION_DAYS); queries never return an item past
  # it, even before the sweep removes it.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  attribute {
    name = "user_id"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "transaction_id"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "N"
  }

  attribute {
    name = "failed_tx"
    type = "S"
  }

  attribute {
    name = "marketing_id"
    type = "S"
  }

  # /query/tx
  global_secondary_index {
    name            = "transaction_id-index"
    hash_key        = "transaction_id"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  # /query/fail: sparse, failed_tx is set only while status == FAILED.
  global_secondary_index {
    name            = "failures-index"
    hash_key        = "failed_tx"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  # /query/delivery: one delivery by its command key, with its timeline.
  global_secondary_index {
    name            = "delivery-index"
    hash_key        = "transaction_id"
    range_key       = "user_id"
    projection_type = "ALL"
  }

  # Unused since the marketing query was removed; kept from the old schema so existing
  # tables need no index rebuild. Removable: drop this block, the marketing_id attribute
  # above and the index in storage/tables.py together. No IAM policy grants access to it.
  global_secondary_index {
    name            = "marketing_id-index"
    hash_key        = "marketing_id"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# Statistics read model: counter items, one per (scope, shard), keyed "tx#T#07" or
# "app#A#2026-12-01#07" (storage/statistics.py). Written by stream_processor in the same
# transaction as the read item, read by query_result with BatchGetItem. Counter items expire
# a grace period after the deliveries they count.
resource "aws_dynamodb_table" "stats" {
  name                        = var.stats_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}
