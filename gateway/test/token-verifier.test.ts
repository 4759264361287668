import type { webcrypto } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadGatewayConfig } from "../src/config.js";
import { issueDevToken } from "../src/dev/dev-tokens.js";
import { createTokenVerifier } from "../src/edge/token-verifier.js";
import { signToken } from "./tokens.js";

const jwt = loadGatewayConfig({}).jwt;

describe("token verifier with a JWKS (GATEWAY_JWKS_URL)", () => {
  let server: Server;
  let url: string;
  let privateKey: webcrypto.CryptoKey;
  beforeAll(async () => {
    const pair = await generateKeyPair("RS256");
    privateKey = pair.privateKey as webcrypto.CryptoKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("accepts an RS256 token signed by a key in the JWKS and returns its subject", async () => {
    const verifier = createTokenVerifier({ ...jwt, jwksUrl: url });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setSubject("grace")
      .setIssuer(jwt.issuer)
      .setAudience(jwt.audience)
      .setExpirationTime("5m")
      .sign(privateKey);
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toBe("grace");
  });

  it("refuses an HS256 token when a JWKS is configured (algorithms are pinned)", async () => {
    const verifier = createTokenVerifier({ ...jwt, jwksUrl: url });
    const error = await verifier.verify(`Bearer ${await signToken(jwt)}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
  });
});

describe("development tokens", () => {
  it("are HS256 tokens with the gateway's issuer, audience and lifetime that the verifier accepts", async () => {
    const { token, expiresAt } = await issueDevToken(jwt, "heidi");
    expect(JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString())).toMatchObject({ alg: "HS256" });
    expect(expiresAt.getTime() - Date.now()).toBeGreaterThan((jwt.devTokenTtlSeconds - 5) * 1000);
    await expect(createTokenVerifier(jwt).verify(`Bearer ${token}`)).resolves.toBe("heidi");
  });
});

describe("remembered HS256 tokens", () => {
  it("accepts a verified token again until it expires, then refuses it as expired, as jose would", async () => {
    const verifier = createTokenVerifier(jwt);
    const token = await signToken(jwt, { sub: "ivan", expiresIn: 60 });
    const exp = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()).exp as number;
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toBe("ivan");
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toBe("ivan");
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      // Within the 5 s clock tolerance after exp: still accepted.
      vi.setSystemTime((exp + 4) * 1000);
      await expect(verifier.verify(`Bearer ${token}`)).resolves.toBe("ivan");
      vi.setSystemTime((exp + 5) * 1000);
      const refused = await verifier.verify(`Bearer ${token}`).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
      expect((refused as ConnectError).rawMessage).toBe("the token has expired");
    } finally {
      vi.useRealTimers();
    }
  });

  it("does not remember a refusal, nor accept a token signed with another secret after a good one", async () => {
    const verifier = createTokenVerifier(jwt);
    const good = await signToken(jwt, { sub: "judy" });
    const forged = await signToken(jwt, { sub: "judy", secret: "another-secret-another-secret-12345" });
    await expect(verifier.verify(`Bearer ${good}`)).resolves.toBe("judy");
    for (let i = 0; i < 2; i++) await expect(verifier.verify(`Bearer ${forged}`)).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
