#!/bin/sh
# Publish one message to a user's routing key with Debian's amqp-tools (apt-get install amqp-tools).
#
#   examples/amqp-tools/publish-user.sh USER 'message text'
#
# For a gateway configured with queue.bind: [users:topic:user.${query:id}]: the message goes to the exchange
# users (USERS_EXCHANGE) with routing key user.USER, which the gateway bound USER's queue with when USER
# subscribed: USER alone gets it (followers' queues are bound to status.AUTHOR; see examples/csharp/users.cs).
# AMQP_URL names the broker (default amqp://guest:guest@localhost:5672). amqp-publish cannot ask for an
# unroutable message back: when no queue is bound, the message is dropped silently.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 USER MESSAGE" >&2
    exit 64
fi

# amqp-publish reads the vhost from the URL's path: leave the path out for the default vhost "/".
url=${AMQP_URL:-amqp://guest:guest@localhost:5672}
url=${url%/}
exec amqp-publish --url="$url" --exchange="${USERS_EXCHANGE:-users}" --routing-key="user.$1" --persistent \
    --content-type=text/plain --body="$2"
