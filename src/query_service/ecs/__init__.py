"""The ECS Fargate handler: FastAPI in front of the internal API."""
