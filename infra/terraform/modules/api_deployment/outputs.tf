output "stage_name" {
  description = "Name of the stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "stage_arn" {
  description = "ARN of the stage (a web ACL associates with it)."
  value       = aws_api_gateway_stage.this.arn
}

output "invoke_url" {
  description = "The stage's invoke URL (https://<api-id>.execute-api.<region>.amazonaws.com/<stage>)."
  value       = aws_api_gateway_stage.this.invoke_url
}
