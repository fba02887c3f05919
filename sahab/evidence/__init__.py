"""Compliance evidence: UAE law mapped to controls, proven by the gate and verify, in a signed pack.

Sits above the gate and `ops` in the layers (pyproject's import contract: cli > evidence > ops > gate >
cost > engine): the CLI calls it; it calls the gate (`sahab.gate.gate_environment`, the run `sahab
check` makes), reads a verify run's JUnit XML (`sahab.ops.verify.runner.read_junit`) and the cost
estimate the gate's budget check made. One module per concern:

    catalogue.py   compliance/controls/<framework>.yaml -> validated models (field-named errors)
    registry.py    the names of the checks that exist (pack policies, deployability findings)
    assess.py      gate and verify evidence -> each control's status and the evidence behind it
    summary.py     report.md's control summary (registers itself in sahab.gate.reports.SECTIONS)
    inventory.py   model governance: projects, registry versions and tags, monitoring history
    oscal.py       OSCAL 1.2.1 assessment results (uuid5 ids)
    render.py      report.html and index.html (the governance dashboard), static and offline
    pdf.py         report.pdf through chromium, its dates fixed to the pack's time
    signing.py     the manifest's signature: local ed25519, AWS KMS, Azure Key Vault; verification
    pack.py        `sahab evidence <env|local>` (build) and `sahab evidence check PACK`

Nothing is imported here: importing `sahab.evidence.summary` adds a section to every report.md,
so only the commands that want it (`sahab check`, `sahab evidence`) import it.
"""
