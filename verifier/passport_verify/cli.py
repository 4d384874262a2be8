"""``python -m passport_verify BUNDLE.zip [--trust DID.json] [--known-checkpoint FILE] [--max-status-age HOURS]``"""

from __future__ import annotations

import argparse
import sys

from passport_verify.core import verify_bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passport_verify", description="Verify a passport bundle offline.")
    parser.add_argument("bundle", help="the bundle (.zip) downloaded from /passports/<id>/bundle")
    parser.add_argument("--trust", action="append", default=[], metavar="DID.json",
                        help="a DID document obtained earlier; the bundle's copy must hold the same keys")
    parser.add_argument("--known-checkpoint", metavar="FILE",
                        help="a checkpoint seen earlier (JSON); an older one in the bundle is a replay")
    parser.add_argument("--max-status-age", type=float, default=24.0, metavar="HOURS",
                        help="status snapshots older than this read 'status unknown' (default 24)")
    args = parser.parse_args(argv)
    report = verify_bundle(args.bundle, trusted=args.trust, known_checkpoint=args.known_checkpoint,
                           max_status_age_hours=args.max_status_age)
    for line in report.lines():
        print(line, file=sys.stdout if report.valid else sys.stderr)
    return 0 if report.valid else 1
