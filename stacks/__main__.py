"""Entry point the Pulumi CLI (and the offline engine) runs: `main: stacks/` in Pulumi.yaml."""

from stacks.platform import main

main()
