"""DynamoDB adapters: table definitions, the read repository, projection writes."""
