#!/bin/bash
# The official rabbitmq entrypoint's contract, shortened: RABBITMQ_DEFAULT_USER/PASS become the default user,
# and the server runs as rabbitmq (logging to the console).
set -euo pipefail
if [ "$1" = 'rabbitmq-server' ] && [ "$(id -u)" = '0' ]; then
  if [ -n "${RABBITMQ_DEFAULT_USER:-}" ] || [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then
    printf 'default_user = %s\ndefault_pass = %s\n' "${RABBITMQ_DEFAULT_USER:-guest}" "${RABBITMQ_DEFAULT_PASS:-guest}" \
      > /etc/rabbitmq/conf.d/05-default-user.conf
  fi
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
  export RABBITMQ_LOGS=- RABBITMQ_SASL_LOGS=-
  exec gosu rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec "$@"
