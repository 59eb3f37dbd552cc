#!/bin/sh
# Fill a folder with the compose cluster's secrets, random, readable by this user only:
# postgres_password, mlflow_admin_password, mlflow_flask_secret, ray_token. Existing files
# are kept (a database already initialised keeps the password it was created with).
#   sh docker/make-secrets.sh "$AESWEEP_SECRETS"
set -eu
dir=${1:?usage: make-secrets.sh FOLDER}
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
for name in postgres_password mlflow_admin_password mlflow_flask_secret ray_token; do
    if [ ! -s "$dir/$name" ]; then
        od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$dir/$name"
        echo "wrote $dir/$name"
    fi
done
