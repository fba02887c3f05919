"""`python -m workloads.privacy init | show | rotate | scan URI [URI ...]`

init     create the environment's tokenisation key if there is none (SAHAB_PRIVACY_*; locally
         under SAHAB_HOME) and print what an auditor may see of it (version, where, how it is
         wrapped, a fingerprint: never the key)
show     the same, without creating one
rotate   write key version N+1 (data tokenised before keeps its `tok:v<N>:` tokens)
scan     look for UAE personal data in clear under each URI (a folder, s3:// or abfss:// prefix);
         exit 1 when anything is found, naming the object and the column
"""

from __future__ import annotations

import argparse
import json
import sys

from workloads.settings import SahabSettings, run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.privacy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("init", "show", "rotate"):
        sub.add_parser(name)
    scan = sub.add_parser("scan")
    scan.add_argument("uris", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "scan":
        from workloads.privacy.scan import scan_uri

        found = 0
        for uri in args.uris:
            report = scan_uri(uri)
            for hit in report.hits:
                print(f"personal data: {hit}")
            found += len(report.hits)
            print(json.dumps({"uri": uri, "objects": len(report.scanned), "hits": len(report.hits), "skipped": report.skipped}))
        return 1 if found else 0
    from workloads.privacy.keys import PrivacySettings, load_key, rotate_key

    settings, home = PrivacySettings(), SahabSettings().home
    if args.command == "rotate":
        key = rotate_key(settings, home)
    else:
        key = load_key(settings, home, create=args.command == "init")
    print(json.dumps(key.describe(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
