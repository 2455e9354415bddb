terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # State belongs in a shared, locked backend. Configure it at init time, e.g.
  #   terraform init -backend-config="bucket=my-tf-state" \
  #     -backend-config="key=query-service/terraform.tfstate" \
  #     -backend-config="region=ap-southeast-1" -backend-config="use_lockfile=true"
  # after uncommenting:
  # backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
