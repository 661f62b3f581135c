#!/usr/bin/env node
// Issue a subscriber token for the gateway from Node.js with jose: what your application's server does
// when it serves the page (the user is logged in there), e.g. from an endpoint the page fetches.
//
//   npm ci && EVENTSOURCED_AUTH__JWT__SECRET=... node issue-token.mjs SUB [MINUTES] [QUEUE...]
//
// The secret is the gateway's auth.jwt.secret (HS256, 32 bytes or more). The token says who the user is
// (sub) and until when (exp): with queue.pattern user-${claim:sub} the gateway streams the queue
// user-SUB to it and no other. Listing QUEUEs adds the "queues" claim (names or patterns with *) for a
// pattern such as ${query:id}. Keep tokens short-lived: minutes; the page fetches a new one when a
// stream ends with ": token expired" (examples/browser/index.html does).
import { SignJWT } from "jose";

/** A token for `sub`, valid for `minutes`, that may read `queues` (none: the queue its sub names). */
export async function issueToken(secret, sub, minutes = 5, queues = []) {
  const claims = queues.length > 0 ? { queues } : {};
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(`${minutes}m`)
    .sign(new TextEncoder().encode(secret));
}

const [sub, minutes, ...queues] = process.argv.slice(2);
const secret = process.env.EVENTSOURCED_AUTH__JWT__SECRET;
if (!sub || !secret) {
  console.error("usage: EVENTSOURCED_AUTH__JWT__SECRET=... node issue-token.mjs SUB [MINUTES] [QUEUE...]");
  process.exit(64);
}

console.log(await issueToken(secret, sub, Number(minutes ?? 5), queues));
