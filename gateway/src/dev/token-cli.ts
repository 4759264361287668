#!/usr/bin/env node
import { loadGatewayConfig } from "../config.js";
// `npm run token -- <user>`: prints a development JWT for <user> signed with GATEWAY_JWT_SECRET
// (or the documented development default), so curl / buf curl can call the gateway.
import { issueDevToken, isValidUserName } from "./dev-tokens.js";

const user = process.argv[2];
if (!isValidUserName(user)) {
  console.error("usage: npm run token -- <user>   (1-64 of A-Z a-z 0-9 . _ @ -)");
  process.exit(2);
}
const config = loadGatewayConfig(process.env);
const { token } = await issueDevToken(config.jwt, user);
process.stdout.write(`${token}\n`);
