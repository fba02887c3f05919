"""Helpers shared by Sahab's policy packs: plain values, regions, config, tags, Kubernetes pod specs.

Packs run as their own process (the Pulumi CLI or `sahab check` starts them); each pack's
`__main__.py` puts the repository root on `sys.path` so `policy_packs.common` imports the same
way there and in the tests.
"""
