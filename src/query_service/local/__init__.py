"""The local stack: every tier as its own process, with AWS's wire formats."""
