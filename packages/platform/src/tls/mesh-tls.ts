import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { type ChannelCredentials, experimental, type ServerCredentials } from "@grpc/grpc-js";
import { ConfigError, envInteger, envPrefix } from "../env.js";
import { type SpiffeId, spiffeIdOfSubjectAltName, spiffeUri } from "./spiffe.js";

/** How a workload speaks inside the mesh: mTLS with its own certificate, or (for debugging only) plaintext. */
export interface MeshTlsConfig {
  /** False only when `MESH_TLS=off` asked for plaintext (refused when NODE_ENV=production). */
  enabled: boolean;
  /** The folder with this workload's `tls.crt`, `tls.key` and the mesh CA's `ca.crt` (a cert-manager Secret's layout). */
  dir: string;
  /** How often the files are read again, so rotated certificates are used without a restart (MESH_TLS_REFRESH_MS). */
  refreshMs: number;
}

/**
 * Reads where a workload's certificate is: `<NAME>_TLS_DIR`, else `<CERTS_DIR or certRoot>/<name>`;
 * `MESH_TLS=off` turns mTLS off for local debugging (a ConfigError under NODE_ENV=production).
 */
export function loadMeshTlsConfig(name: string, certRoot: string, env: NodeJS.ProcessEnv = process.env): MeshTlsConfig {
  const mode = (env.MESH_TLS ?? "on").toLowerCase();
  if (mode !== "on" && mode !== "off") throw new ConfigError(`MESH_TLS must be "on" or "off", got "${env.MESH_TLS}"`);
  if (mode === "off" && env.NODE_ENV === "production") {
    throw new ConfigError("MESH_TLS=off is refused when NODE_ENV=production: every hop inside the mesh is mTLS");
  }
  return {
    enabled: mode === "on",
    dir: env[`${envPrefix(name)}_TLS_DIR`] || join(env.CERTS_DIR || certRoot, name),
    refreshMs: envInteger(env, "MESH_TLS_REFRESH_MS", 60_000, { min: 100 }),
  };
}

/** The workload's certificate as read once at start-up: who it is, and until when. */
export interface MeshIdentity {
  id: SpiffeId;
  /** `spiffe://<trust domain>/<workload>`. */
  uri: string;
  validTo: Date;
}

/**
 * Reads the workload's own certificate now, to learn its SPIFFE ID (and so the trust domain its
 * peers must share) and to fail at start-up, with a message saying what to do, when a file is
 * missing, unreadable, not a SPIFFE certificate, or expired.
 */
export function readMeshIdentity(tls: MeshTlsConfig): MeshIdentity {
  const file = (name: string) => {
    const path = join(tls.dir, name);
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new ConfigError(
        `cannot read the mesh certificate file ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}): ` +
          "run `npm run certs` for development certificates, or mount the workload's certificate there (<NAME>_TLS_DIR, CERTS_DIR)",
      );
    }
  };
  const certificate = new X509Certificate(file("tls.crt"));
  file("tls.key");
  const ca = new X509Certificate(file("ca.crt"));
  const id = spiffeIdOfSubjectAltName(certificate.subjectAltName);
  if (!id) throw new ConfigError(`${join(tls.dir, "tls.crt")} carries no single spiffe:// URI SAN: it is not a mesh workload certificate`);
  if (!certificate.checkIssued(ca) || !certificate.verify(ca.publicKey)) {
    throw new ConfigError(`${join(tls.dir, "tls.crt")} is not signed by the CA in ${join(tls.dir, "ca.crt")}`);
  }
  const validTo = new Date(certificate.validTo);
  if (validTo.getTime() <= Date.now()) throw new ConfigError(`${join(tls.dir, "tls.crt")} expired at ${validTo.toISOString()}`);
  return { id, uri: spiffeUri(id), validTo };
}

const providers = new Map<string, experimental.FileWatcherCertificateProvider>();

/** One file watcher per folder and process: the server and every client share it. */
function providerFor(tls: MeshTlsConfig): experimental.FileWatcherCertificateProvider {
  let provider = providers.get(tls.dir);
  if (!provider) {
    provider = new experimental.FileWatcherCertificateProvider({
      certificateFile: join(tls.dir, "tls.crt"),
      privateKeyFile: join(tls.dir, "tls.key"),
      caCertificateFile: join(tls.dir, "ca.crt"),
      refreshIntervalMs: tls.refreshMs,
    });
    providers.set(tls.dir, provider);
  }
  return provider;
}

/**
 * Resolves once the file watcher has read the workload's certificate, key and CA, so a server bound
 * (or a client connecting) afterwards has them from its first handshake; rejects when a file cannot
 * be read. grpc-js hands later readings to the credentials by itself.
 */
export function meshCertificatesLoaded(tls: MeshTlsConfig): Promise<void> {
  const provider = providerFor(tls);
  return new Promise((resolve, reject) => {
    let identity = false;
    let ca = false;
    const settle = () => {
      if (!identity || !ca) return;
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
      resolve();
    };
    const fail = () => {
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
      reject(new ConfigError(`cannot read the mesh certificate, key or CA in ${tls.dir}`));
    };
    const onIdentity = (update: unknown) => {
      if (!update) return fail();
      identity = true;
      settle();
    };
    const onCa = (update: unknown) => {
      if (!update) return fail();
      ca = true;
      settle();
    };
    provider.addIdentityCertificateListener(onIdentity);
    provider.addCaCertificateListener(onCa);
  });
}

/** Server credentials that require and verify a client certificate from the mesh CA; rotated files are picked up. */
export function meshServerCredentials(tls: MeshTlsConfig): ServerCredentials {
  const provider = providerFor(tls);
  return experimental.createCertificateProviderServerCredentials(provider, provider, true);
}

/**
 * The SPIFFE check of a server's certificate: it must carry a SPIFFE ID in `trustDomain` — and, when
 * `expect` names a workload, exactly that one. (TLS has already checked it comes from the mesh CA.)
 */
export function meshServerIdentityCheck(
  trustDomain: string,
  expect?: string,
): (host: string, certificate: PeerCertificate) => Error | undefined {
  return (_host, certificate) => {
    const id = spiffeIdOfSubjectAltName(certificate.subjectaltname);
    if (!id || id.trustDomain !== trustDomain)
      return new Error(`the server's certificate names no workload of trust domain ${trustDomain}`);
    if (expect !== undefined && id.workload !== expect) return new Error(`expected the server to be ${expect}, it is ${spiffeUri(id)}`);
    return undefined;
  };
}

/**
 * Client credentials presenting the workload's certificate. The server is checked the SPIFFE way,
 * not by hostname (`meshServerIdentityCheck`).
 */
export function meshChannelCredentials(tls: MeshTlsConfig, trustDomain: string, expect?: string): ChannelCredentials {
  const provider = providerFor(tls);
  return experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: meshServerIdentityCheck(trustDomain, expect),
  });
}

/** The workload's certificate, key and the mesh CA as last read by the folder's file watcher (PEM). */
export interface MeshTlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The watcher's readings for one client: the latest material, until `release()`. */
export interface MeshTlsSource {
  /** Resolves once the first certificate, key and CA are in; rejects when a file cannot be read. */
  ready: Promise<void>;
  /** The latest reading (call after `ready`): rotated files reach new connections. */
  current(): MeshTlsMaterial;
  /** Stops listening (the watcher stops once nobody listens). */
  release(): void;
}

/**
 * The certificate, key and CA of the folder's file watcher (the one grpc-js's credentials use),
 * for a client on node's own TLS.
 */
export function meshTlsSource(tls: MeshTlsConfig): MeshTlsSource {
  const provider = providerFor(tls);
  let identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  let ca: Buffer | undefined;
  let settle: { resolve(): void; reject(error: Error): void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const failed = () => settle?.reject(new ConfigError(`cannot read the mesh certificate, key or CA in ${tls.dir}`));
  const onIdentity = (update: { certificate: Buffer; privateKey: Buffer } | null) => {
    if (!update) return failed();
    identity = update;
    if (ca) settle?.resolve();
  };
  const onCa = (update: { caCertificate: Buffer } | null) => {
    if (!update) return failed();
    ca = update.caCertificate;
    if (identity) settle?.resolve();
  };
  provider.addIdentityCertificateListener(onIdentity);
  provider.addCaCertificateListener(onCa);
  return {
    ready,
    current() {
      if (!identity || !ca) throw new ConfigError(`cannot read the mesh certificate, key or CA in ${tls.dir}`);
      return { cert: identity.certificate, key: identity.privateKey, ca };
    },
    release() {
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
    },
  };
}
