# ---------------------------------------------------------------------------------------
# The support console (ARCHITECTURE §9): an HTTPS listener on the internal ALB whose
# /console* rule signs the person in with the company's OpenID Connect provider
# (authenticate-oidc) before forwarding to the tasks, which verify the identity the ALB
# signs (CONSOLE_AUTH=alb, CONSOLE_ALB_ARN). Off (no listener, no rule) while var.console
# is null. The HTTP listener and its rule for the Query Lambda are not touched.
# ---------------------------------------------------------------------------------------

locals {
  console_enabled = var.console != null
}

# The client secret is read from Secrets Manager at plan time: the ALB's API takes it as a
# value, so it is in the Terraform state (keep the state encrypted and access-controlled).
data "aws_secretsmanager_secret_version" "console_oidc" {
  count     = local.console_enabled ? 1 : 0
  secret_id = var.console.client_secret_arn
}

resource "aws_lb_listener" "console" {
  count             = local.console_enabled ? 1 : 0
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.console.certificate_arn

  # Only the console is served here: every other path is a plain 404.
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "console" {
  count        = local.console_enabled ? 1 : 0
  listener_arn = aws_lb_listener.console[0].arn
  priority     = 10

  condition {
    path_pattern {
      values = ["/console", "/console/*"]
    }
  }

  action {
    type  = "authenticate-oidc"
    order = 1
    authenticate_oidc {
      issuer                     = var.console.issuer
      authorization_endpoint     = var.console.authorization_endpoint
      token_endpoint             = var.console.token_endpoint
      user_info_endpoint         = var.console.user_info_endpoint
      client_id                  = var.console.client_id
      client_secret              = data.aws_secretsmanager_secret_version.console_oidc[0].secret_string
      scope                      = "openid email"
      session_timeout            = var.console.session_timeout
      on_unauthenticated_request = "authenticate"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

# Support staff reach the listener from the security groups and managed prefix lists named
# (never a raw CIDR); the ALB itself must reach the provider's token and user-info endpoints
# (HTTPS out).
locals {
  # Where staff come from, each source with what it is: a security group or a prefix list.
  console_sources = local.console_enabled ? merge(
    { for id in var.console.allowed_security_group_ids : id => "group" },
    { for id in var.console.allowed_prefix_list_ids : id => "prefix_list" },
  ) : {}
}

resource "aws_vpc_security_group_ingress_rule" "alb_console" {
  for_each                     = local.console_sources
  security_group_id            = aws_security_group.alb.id
  description                  = "HTTPS to the support console from staff networks"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value == "group" ? each.key : null
  prefix_list_id               = each.value == "prefix_list" ? each.key : null
}

resource "aws_vpc_security_group_egress_rule" "alb_to_oidc_provider" {
  count             = local.console_enabled ? 1 : 0
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS to the OpenID Connect provider (token and user-info endpoints)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
