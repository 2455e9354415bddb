# A production deployment in Singapore. Copy, fill in the network and the image, then:
#   terraform plan -var-file=envs/example.tfvars -out=tfplan && terraform apply tfplan

region      = "ap-southeast-1"
environment = "prod"

# An existing VPC: private subnets in at least two Availability Zones, with a route to
# ECR, CloudWatch Logs and DynamoDB (NAT gateway, or VPC endpoints for them).
vpc_id             = "vpc-0123456789abcdef0"
private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

cluster_name = "query-service-cluster"
service_name = "query-service"

# Pushed before apply (README, "Deploy to AWS"): one immutable tag per build.
image_uri = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/query-service:0.1.0-1a2b3c4"

desired_count = 2
min_capacity  = 2
max_capacity  = 10

alarm_email_addresses = ["oncall@example.com"]

tags = {
  Team       = "notifications"
  CostCenter = "push-platform"
}

# The first stack in a new account or region sets API Gateway's CloudWatch role (one per
# account and region; docs/operations.md, "Settings that apply depends on"):
# manage_api_gateway_account = true

# Unreserved by default (a new account's concurrency quota cannot give reservations):
# lambda_reserved_concurrency = { stream_processor = 10 }

# The support console (off while unset; docs/operations.md "The support console"):
# console = {
#   certificate_arn            = "arn:aws:acm:ap-southeast-1:123456789012:certificate/..."
#   issuer                     = "https://login.example.com"
#   authorization_endpoint     = "https://login.example.com/authorize"
#   token_endpoint             = "https://login.example.com/token"
#   user_info_endpoint         = "https://login.example.com/userinfo"
#   client_id                  = "query-service-console"
#   client_secret_arn          = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:console-oidc"
#   allowed_security_group_ids = ["sg-0123456789abcdef0"] # e.g. the Client VPN endpoint's
#   allowed_prefix_list_ids    = ["pl-0123456789abcdef0"] # e.g. the offices' networks
# }
