"""A CloudFront distribution in front of the model API."""

import pulumi
import pulumi_aws as aws

uae = aws.Provider("uae", region="me-central-1", default_tags={"tags": {"owner": "t", "cost-center": "c", "data-classification": "confidential"}})
opts = pulumi.ResourceOptions(provider=uae)
aws.cloudfront.Distribution(
    "api",
    enabled=True,
    default_cache_behavior={
        "allowed_methods": ["GET", "HEAD"],
        "cached_methods": ["GET", "HEAD"],
        "target_origin_id": "api",
        "viewer_protocol_policy": "https-only",
    },
    origins=[{"domain_name": "api.example.ae", "origin_id": "api"}],
    restrictions={"geo_restriction": {"restriction_type": "none"}},
    viewer_certificate={"cloudfront_default_certificate": True},
    opts=opts,
)
