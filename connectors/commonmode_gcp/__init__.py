"""GCP connector (issue 16): the IAM evaluator so far."""
