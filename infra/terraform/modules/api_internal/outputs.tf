output "invoke_url" {
  description = "INTERNAL_API_URL: https://<api-id>-<vpce-id>.execute-api.<region>.amazonaws.com/<stage>, the endpoint-specific hostname (public DNS resolving to the endpoint's private addresses); the stage's own URL when private DNS is on."
  value       = local.invoke_url
}

output "execution_arn" {
  description = "Execution ARN of the API (for execute-api:Invoke policies)."
  value       = aws_api_gateway_rest_api.this.execution_arn
}

output "rest_api_id" {
  description = "ID of the private REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "Stage the ECS service calls."
  value       = module.deployment.stage_name
}

output "vpc_endpoint_id" {
  description = "The execute-api interface endpoint the resource policy is bound to."
  value       = aws_vpc_endpoint.execute_api.id
}
