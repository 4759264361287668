import { SignJWT } from "jose";
import type { GatewayConfig } from "../config.js";

/** Mints an HS256 development token for `user` with the gateway's issuer, audience and lifetime. */
export async function issueDevToken(
  jwt: GatewayConfig["jwt"],
  user: string,
  now = Date.now(),
): Promise<{ token: string; expiresAt: Date }> {
  const issuedAt = Math.floor(now / 1000);
  const expires = issuedAt + jwt.devTokenTtlSeconds;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user)
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expires)
    .sign(new TextEncoder().encode(jwt.secret));
  return { token, expiresAt: new Date(expires * 1000) };
}

/** A user name the dev endpoints accept: 1-64 letters, digits, `.`, `_`, `-`, `@`. */
export function isValidUserName(user: unknown): user is string {
  return typeof user === "string" && /^[A-Za-z0-9._@-]{1,64}$/.test(user);
}
