#!/usr/bin/env node
// Issue a subscriber token for the gateway from Node.js with jose: what your application's server does
// when it serves the page (the user is logged in there), e.g. from an endpoint the page fetches.
//
//   npm ci && EVENTSOURCED_AUTH__JWT__SECRET=... node issue-token.mjs SUB [MINUTES] [QUEUE...]
//       [--topics PATTERN]... [--publish PATTERN]...
//
// The secret is the gateway's auth.jwt.secret (HS256, 32 bytes or more). The token says who the user is
// (sub) and until when (exp): with queue.pattern user-${claim:sub} the gateway streams the queue
// user-SUB to it and no other. Listing QUEUEs adds the "queues" claim (names or patterns with *) for a
// pattern such as ${query:id}. --topics adds the "topics" claim (the topics the token may read; with
// tokens, any other topic is a 403), --publish the "publish" claim (where its WebSocket may publish:
// auth.publish_claim). Each may be given several times. The chat example's user, say:
//   node issue-token.mjs alice 60 --topics 'chat.room.*' --publish 'room.*' --publish 'user.*'
// Keep tokens short-lived: minutes; the page fetches a new one when a stream ends with ": token expired"
// (examples/browser/index.html does).
import { SignJWT } from "jose";

/** A token for `sub`, valid for `minutes`, that may read `queues` (none: the queue its sub names) and `topics`, and publish to `publish`. */
export async function issueToken(secret, sub, minutes = 5, queues = [], { topics = [], publish = [] } = {}) {
  const claims = {};
  if (queues.length > 0) claims.queues = queues;
  if (topics.length > 0) claims.topics = topics;
  if (publish.length > 0) claims.publish = publish;
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(`${minutes}m`)
    .sign(new TextEncoder().encode(secret));
}

const usage = "usage: EVENTSOURCED_AUTH__JWT__SECRET=... node issue-token.mjs SUB [MINUTES] [QUEUE...] [--topics PATTERN]... [--publish PATTERN]...";
const positional = [];
const lists = { "--topics": [], "--publish": [] };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] in lists) {
    if (i + 1 >= args.length || args[i + 1].length === 0) {
      console.error(`${args[i]} needs a value\n${usage}`);
      process.exit(64);
    }
    lists[args[i]].push(args[++i]);
  } else if (args[i].startsWith("--")) {
    console.error(`unknown option ${args[i]}\n${usage}`);
    process.exit(64);
  } else {
    positional.push(args[i]);
  }
}

const [sub, minutes, ...queues] = positional;
const secret = process.env.EVENTSOURCED_AUTH__JWT__SECRET;
const lifetime = Number(minutes ?? 5);
if (!sub || !secret || !(lifetime > 0)) {
  console.error(usage);
  process.exit(64);
}

console.log(await issueToken(secret, sub, lifetime, queues, { topics: lists["--topics"], publish: lists["--publish"] }));
