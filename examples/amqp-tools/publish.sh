#!/bin/sh
# Publish one message to a subscriber's queue with Debian's amqp-tools (apt-get install amqp-tools).
#
#   examples/amqp-tools/publish.sh QUEUE 'message text'
#   some-command | examples/amqp-tools/publish.sh QUEUE        # the whole of stdin is one message
#
# AMQP_URL names the broker (default amqp://guest:guest@localhost:5672). The queue is the one the
# gateway derives from queue.pattern: with the default ${query:id}, the browser's ?id=42 reads queue 42.
# The message goes to the default exchange with the queue name as routing key; a queue that does not
# exist (yet, or any more) drops it.
set -eu

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    echo "usage: $0 QUEUE [MESSAGE]  (MESSAGE defaults to standard input)" >&2
    exit 64
fi
queue=$1

# amqp-publish reads the vhost from the URL's path: amqp://host:5672/ would ask for the vhost ""
# (and fail with ACCESS_REFUSED); leave the path out for the default vhost "/", or write %2f.
url=${AMQP_URL:-amqp://guest:guest@localhost:5672}
url=${url%/}

if [ "$#" -eq 2 ]; then
    exec amqp-publish --url="$url" --routing-key="$queue" --persistent \
        --content-type=text/plain --body="$2"
fi
exec amqp-publish --url="$url" --routing-key="$queue" --persistent --content-type=text/plain
