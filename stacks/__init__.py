"""The Pulumi program: `spec` validates the environment, `platform` composes the components."""
