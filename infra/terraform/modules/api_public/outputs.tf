output "invoke_url" {
  description = "Base URL clients call, e.g. <invoke_url>/query/user."
  value       = module.deployment.invoke_url
}

output "rest_api_id" {
  description = "ID of the public REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "rest_api_name" {
  description = "Name of the public REST API (the ApiName dimension of its metrics)."
  value       = aws_api_gateway_rest_api.this.name
}

output "stage_name" {
  description = "Stage clients call."
  value       = module.deployment.stage_name
}

output "web_acl_arn" {
  description = "WAF web ACL in front of the stage."
  value       = aws_wafv2_web_acl.this.arn
}

output "api_key_id" {
  description = "ID of the default API key when api_key_required (read its value with `aws apigateway get-api-key --include-value`)."
  value       = try(aws_api_gateway_api_key.default[0].id, null)
}
