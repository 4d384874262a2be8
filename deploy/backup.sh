#!/usr/bin/env bash
# Back up the marketplace: the PostgreSQL database (pg_dump, custom format) and every stored file (local
# folder or S3 bucket, through `flask storage export`), into DEST/<UTC time>/ with checksums.
# Usage (as the site's user, with its environment):
#   set -a; . /etc/marketplace/marketplace.env; set +a; deploy/backup.sh /var/backups/marketplace
# The passport signing key (PASSPORT_SIGNING_KEY) and SECRET_KEY are NOT copied: keep them in the
# secret store; a restore needs the same signing key for the site's did:web to stay valid.
set -euo pipefail
dest=${1:?usage: backup.sh DEST_DIR}
: "${DATABASE_URL:?DATABASE_URL is not set}"
FLASK=${FLASK:-flask}
dir="$dest/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$dir"
pg_dump --format=custom --no-owner --no-privileges --file "$dir/database.dump" "${DATABASE_URL/+psycopg/}"
"$FLASK" --app marketplace storage export "$dir/files"
(cd "$dir" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)
echo "$dir"
