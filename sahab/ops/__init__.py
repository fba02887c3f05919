"""Operations on the live cloud, with the deployer's or an auditor's credentials: `deploy.py`
(`sahab up|preview|destroy|bootstrap` through the Pulumi Automation API), `preflight/` (what the
offline gate cannot know, one module per cloud over `base.py`), `verify/` (the live platform is what
the plan promised). Built on the engine and the gate; the CLI is the only thing above it."""
