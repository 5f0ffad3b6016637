"""Warm a fresh moto server before timing: moto builds each service's backend on its first request (its SSM
backend loads AWS's public parameters, about a second), which no real AWS endpoint costs. One read per
service either tool calls, so neither commonmode nor PMapper pays moto's start-up in a timed step."""

from __future__ import annotations

import contextlib
from typing import Any

CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "sts": ("get_caller_identity", {}), "iam": ("list_roles", {}), "route53": ("list_hosted_zones", {}),
    "secretsmanager": ("list_secrets", {}), "acm": ("list_certificates", {}), "ssm": ("describe_parameters", {}),
    "acm-pca": ("list_certificate_authorities", {}), "organizations": ("list_roots", {}),
    "s3": ("list_buckets", {}), "kms": ("list_keys", {}), "sns": ("list_topics", {}), "sqs": ("list_queues", {}),
    "lambda": ("list_functions", {}), "codebuild": ("list_projects", {}), "ec2": ("describe_instances", {}),
    "cloudformation": ("describe_stacks", {}), "autoscaling": ("describe_launch_configurations", {}),
}


def warm_up(endpoint: str, region: str = "us-east-1") -> None:
    import boto3

    for service, (op, kwargs) in CALLS.items():
        # any error is fine (e.g. organizations before an organization exists): the backend is warmed either way
        with contextlib.suppress(Exception):
            getattr(boto3.client(service, endpoint_url=endpoint, region_name=region), op)(**kwargs)
