"""Sahab's tooling, by layer (each package's docstring says what it owns; `make lint` enforces the order):

    cli/      thin commands (`sahab ...`); nothing imports it
    ops/      live-cloud operations: deploy, preflight, verify
    gate/     the credential-free policy gate and deployability checks;   cost/  offline cost
    engine/   the offline engine: runs the Pulumi program on mocks; the one home of Pulumi internals

The Pulumi program is `stacks/` (on `components/`), the runtime on the platform is `workloads/`
(including the single-machine platform, `workloads/local`), and the users' models are `projects/`.
"""

__version__ = "0.1.0"
