#!/bin/sh
# Entrypoint of the aesweep containers: for each secret below whose NAME_FILE variable is set,
# read the file into NAME (exported to the command only), then run the command. So no
# password is on a command line, in compose.yaml or in `docker inspect`. A missing or empty
# file stops the container with one line.
set -eu
for name in PGPASSWORD MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY \
    MLFLOW_TRACKING_PASSWORD; do
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    if [ ! -r "$file" ] || [ ! -s "$file" ]; then
        echo "aesweep-entrypoint: ${name}_FILE: $file is missing, unreadable or empty" >&2
        exit 2
    fi
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}_FILE"
done
exec "$@"
