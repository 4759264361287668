// Tokens for tests, signed (or not) in every way a caller might get wrong.
import { SignJWT, UnsecuredJWT } from "jose";
import type { GatewayConfig } from "../src/config.js";

/** Claims and key overrides for {@link signToken}. */
export interface TokenOptions {
  sub?: string;
  iss?: string;
  aud?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number | null;
  secret?: string;
}

/** An HS256 token for the gateway's issuer/audience unless overridden. */
export async function signToken(jwt: GatewayConfig["jwt"], options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const builder = new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(options.sub ?? "alice")
    .setIssuer(options.iss ?? jwt.issuer)
    .setAudience(options.aud ?? jwt.audience)
    .setIssuedAt(now - 120);
  if (options.expiresIn !== null) builder.setExpirationTime(now + (options.expiresIn ?? 600));
  return builder.sign(new TextEncoder().encode(options.secret ?? jwt.secret));
}

/** An `alg: none` token with otherwise valid claims. */
export function unsecuredToken(jwt: GatewayConfig["jwt"], sub = "alice"): string {
  return new UnsecuredJWT({})
    .setSubject(sub)
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setIssuedAt()
    .setExpirationTime("10m")
    .encode();
}
