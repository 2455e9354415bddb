# ---------------------------------------------------------------------------------------
# Internal ALB: admits only the Query Lambda's group, reaches only the tasks.
# ---------------------------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${var.service_name}-alb"
  description = "Internal ALB of ${var.service_name}: HTTP from the Query Lambda only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_query_entry" {
  #checkov:skip=CKV_AWS_260:False positive: the source is referenced_security_group_id (the Query Lambda's group), not 0.0.0.0/0; this checkov version reads only cidr_ipv4/cidr_ipv6 on aws_vpc_security_group_ingress_rule. tests/infra asserts the rule has no CIDR.
  security_group_id            = aws_security_group.alb.id
  description                  = "HTTP from the Query Lambda"
  ip_protocol                  = "tcp"
  from_port                    = 80
  to_port                      = 80
  referenced_security_group_id = var.client_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the container port of the tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

# ---------------------------------------------------------------------------------------
# Internal ALB
# ---------------------------------------------------------------------------------------

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:Internal ALB, reachable only from the Query Lambda's security group; the WAF sits on the public API in front of it.
  #checkov:skip=CKV2_AWS_20:The HTTP listener serves only the Query Lambda inside the VPC (see its CKV_AWS_2); the console's HTTPS listener (console.tf) is a different audience, so nothing is redirected.
  name                       = local.alb_name
  internal                   = true
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 60

  access_logs {
    bucket  = aws_s3_bucket.alb_logs.id
    prefix  = "alb"
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_s3_bucket_policy.alb_logs]
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:Plain HTTP from the internal ALB to the task inside the VPC; the task has no certificate and nothing but the ALB's group can reach it.
  name                 = local.tg_name
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/health"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Internal listener reached only by the Query Lambda's security group inside the VPC (ECS_HANDLER_URL is http://); TLS here needs a certificate for a private name this deployment does not have.
  #checkov:skip=CKV_AWS_103:No TLS on this internal listener; see CKV_AWS_2.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------------------
# ALB access logs (ALB writes only to SSE-S3 buckets)
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "alb_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging its own access would log into itself.
  #checkov:skip=CKV_AWS_144:ALB access logs are operational data with a retention limit; a second-region copy is not worth its cost.
  #checkov:skip=CKV_AWS_145:ALB access logging supports only SSE-S3 (AES256) buckets, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new log objects as events; they are read on demand.
  bucket        = var.alb_log_bucket_name
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "alb_logs" {
  bucket                  = aws_s3_bucket.alb_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.alb_logs]
}

data "aws_iam_policy_document" "alb_logs" {
  # Regions older than August 2022 deliver from a regional ELB account, newer ones from
  # the log delivery service; allowing both keeps the policy region-independent.
  statement {
    sid       = "ElbAccountWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.alb_logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "LogDeliveryWritesAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.alb_logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid     = "TlsOnly"
    effect  = "Deny"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [
      aws_s3_bucket.alb_logs.arn,
      "${aws_s3_bucket.alb_logs.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "alb_logs" {
  bucket = aws_s3_bucket.alb_logs.id
  policy = data.aws_iam_policy_document.alb_logs.json

  depends_on = [aws_s3_bucket_public_access_block.alb_logs]
}
