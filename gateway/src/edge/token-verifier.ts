import { unauthenticated } from "@shop/platform";
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { GatewayConfig } from "../config.js";

/** Checks bearer tokens; resolves to the verified subject or throws UNAUTHENTICATED. */
export interface TokenVerifier {
  /** The subject of a valid `Authorization: Bearer` token; undefined when no header is present. */
  verify(authorization: string | null): Promise<string | undefined>;
}

/**
 * A verifier for the configured key: HS256 with the shared secret, or the JWKS at `jwksUrl` with
 * its pinned algorithms. `exp`, `iss`, `aud` and `sub` are required (jose checks a claim only when told).
 */
export function createTokenVerifier(jwt: GatewayConfig["jwt"]): TokenVerifier {
  const key: Uint8Array | JWTVerifyGetKey = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : new TextEncoder().encode(jwt.secret);
  const algorithms = jwt.jwksUrl ? jwt.jwksAlgorithms : ["HS256"];
  return {
    async verify(authorization) {
      if (authorization === null || authorization === "") return undefined;
      const found = /^Bearer\s+([A-Za-z0-9_\-.]+)\s*$/i.exec(authorization);
      if (!found) throw unauthenticated("MALFORMED_AUTHORIZATION", 'the Authorization header must be "Bearer <token>"');
      try {
        const { payload } = await jwtVerify(found[1] as string, key as Uint8Array, {
          algorithms,
          issuer: jwt.issuer,
          audience: jwt.audience,
          requiredClaims: ["exp", "iss", "aud", "sub"],
          clockTolerance: 5,
        });
        if (typeof payload.sub !== "string" || payload.sub === "") throw new Error("empty subject");
        return payload.sub;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === "ERR_JWT_EXPIRED") throw unauthenticated("TOKEN_EXPIRED", "the token has expired");
        throw unauthenticated("INVALID_TOKEN", "the token is not valid for this gateway");
      }
    },
  };
}
