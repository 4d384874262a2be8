#!/usr/bin/env bash
# Restore a backup made by backup.sh into the (empty or to-be-replaced) database DATABASE_URL and the
# configured storage. Stop the web and worker units first; start them again afterwards.
# Usage: set -a; . /etc/marketplace/marketplace.env; set +a; deploy/restore.sh /var/backups/marketplace/<time>
set -euo pipefail
dir=${1:?usage: restore.sh BACKUP_DIR}
: "${DATABASE_URL:?DATABASE_URL is not set}"
FLASK=${FLASK:-flask}
(cd "$dir" && sha256sum --check --quiet SHA256SUMS)
pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction \
  --dbname "${DATABASE_URL/+psycopg/}" "$dir/database.dump"
"$FLASK" --app marketplace storage import "$dir/files"
"$FLASK" --app marketplace db upgrade   # a backup from an older release gets the newer migrations
echo "restored from $dir"
