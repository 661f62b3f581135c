#!/usr/bin/env node
// Publish one message to a subscriber's queue from Node.js with amqplib.
//
//   npm ci && AMQP_URL=amqp://user:pass@host:5672 node publish.js QUEUE 'message text'
//
// In a service of your own, the part to copy is publish() below: send to the default exchange with the
// queue name as routing key (sendToQueue). The queue is the one the gateway derives from queue.pattern:
// with the default ${query:id}, the browser's ?id=42 reads queue 42.
"use strict";

const crypto = require("node:crypto");
const amqp = require("amqplib");

/**
 * Publishes `text` (UTF-8; several lines arrive as one multi-line event) and waits until the broker has
 * it. Throws when the queue does not exist (no subscriber ever came, or it expired). A real service keeps
 * one connection open and publishes many messages on it. `messageId` names the message (a new one when not
 * given): WebSocket and long-poll clients get it as message_id and drop a second delivery by it; publish again
 * with the same id after a failed publish.
 */
async function publish(url, queue, text, messageId = crypto.randomUUID()) {
  const connection = await amqp.connect(url, {
    clientProperties: { connection_name: "eventsourced example publisher (node)" },
  });
  try {
    // Confirms: waitForConfirms() resolves once the broker took responsibility for the message.
    const channel = await connection.createConfirmChannel();
    let returned = null;
    // mandatory: an unroutable message comes back (before its confirm) instead of vanishing.
    channel.on("return", (message) => { returned = message; });
    channel.sendToQueue(queue, Buffer.from(text, "utf8"), {
      persistent: true, // survives a broker restart while the browser is away (the queue is durable)
      mandatory: true,
      contentType: "text/plain; charset=utf-8",
      timestamp: Math.floor(Date.now() / 1000),
      messageId, // the same on a redelivery: clients dedupe by it
    });
    await channel.waitForConfirms();
    await channel.close();
    if (returned) {
      const error = new Error(`queue ${queue} does not exist (no subscriber yet, or it expired) or its node is down: message returned; retry later, or declare the queue first`);
      error.code = "NO_ROUTE";
      throw error;
    }
  } finally {
    await connection.close();
  }
}

module.exports = { publish };

if (require.main === module) {
  const [queue, text] = process.argv.slice(2);
  if (queue === undefined || text === undefined) {
    console.error("usage: node publish.js QUEUE MESSAGE  (AMQP_URL names the broker)");
    process.exit(64);
  }
  const url = process.env.AMQP_URL || "amqp://guest:guest@localhost:5672";
  publish(url, queue, text).then(
    () => console.log(`published to queue ${queue}`),
    (error) => {
      console.error(error.message);
      process.exit(error.code === "NO_ROUTE" ? 69 : 1);
    });
}
