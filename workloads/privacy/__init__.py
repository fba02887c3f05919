"""Personal-data protection for every project (issue 22): keyed pseudonyms before anything is stored.

    patterns.py   UAE recognisers (Emirates ID with its Luhn digit, +971 phones, AE IBANs with
                  mod-97, e-mail) and column names that look like personal data
    tokens.py     `Tokeniser`: HMAC-SHA256 tokens `tok:v<key version>:<32 hex>`
    keys.py       the environment's key: generated once, wrapped by KMS / Key Vault (or a 0600 file
                  locally), unwrapped by the workload at start (`PrivacySettings`, SAHAB_PRIVACY_*)
    project.py    a project's `pii` columns and `for_project(project)`: what ingestion, serving and
                  the control plane call
    scan.py       looking for clear personal data in stored objects (`sahab verify`, the tests)

`python -m workloads.privacy init | show | rotate | scan URI`.
"""

from workloads.privacy.project import PiiColumn, PrivacyError, ProjectPrivacy, for_project, pii_columns, pii_problems
from workloads.privacy.tokens import Tokeniser

__all__ = ["PiiColumn", "PrivacyError", "ProjectPrivacy", "Tokeniser", "for_project", "pii_columns", "pii_problems"]
