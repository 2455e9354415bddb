output "invoke_url" {
  description = "INTERNAL_API_URL: https://<api-id>.execute-api.<region>.amazonaws.com/<stage>, resolved to the endpoint by private DNS inside the VPC."
  value       = aws_api_gateway_stage.this.invoke_url
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
  value       = aws_api_gateway_stage.this.stage_name
}

output "vpc_endpoint_id" {
  description = "The execute-api interface endpoint the resource policy is bound to."
  value       = aws_vpc_endpoint.execute_api.id
}
