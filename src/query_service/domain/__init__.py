"""Records, queries, validation and errors. Imports nothing from AWS, FastAPI or httpx."""
