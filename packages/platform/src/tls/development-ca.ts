// Development certificates for the mesh: a CA and one certificate per workload, made on the
// developer's machine (npm start, tests). Production mounts certificates from cert-manager or
// Secrets instead; nothing here runs inside a service. @peculiar/x509 needs the Reflect metadata
// polyfill, which this module (and only this module) loads.
import "reflect-metadata";
import { X509Certificate as NodeCertificate, webcrypto } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { spiffeIdOfSubjectAltName, spiffeUri } from "./spiffe.js";

x509.cryptoProvider.set(webcrypto as never);

type KeyPair = webcrypto.CryptoKeyPair;

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** A CA that can issue workload certificates. */
export interface CertificateAuthority {
  certificate: x509.X509Certificate;
  keys: KeyPair;
  /** PEM of the CA certificate: what every workload trusts. */
  pem: string;
}

/** One workload's certificate and key, PEM-encoded, as `tls.crt` / `tls.key` hold them. */
export interface IssuedCertificate {
  certificate: string;
  privateKey: string;
}

/** What a workload certificate says and how long it is valid. */
export interface CertificateRequest {
  trustDomain: string;
  /** The workload name: the SPIFFE ID's path and the certificate's common name. */
  workload: string;
  /** Extra DNS names (the SPIFFE ID is what peers check; DNS names serve tools that check hostnames). */
  dnsNames?: readonly string[];
  notBefore?: Date;
  notAfter?: Date;
}

/** Makes a new CA, valid for `validityDays` (default 365). */
export async function createCertificateAuthority(name = "mesh development CA", validityDays = 365): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as KeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: ALGORITHM,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + validityDays * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys, pem: certificate.toString("pem") };
}

/** Issues a workload certificate with the SPIFFE ID as its URI SAN, usable as TLS server and client. */
export async function issueCertificate(ca: CertificateAuthority, request: CertificateRequest): Promise<IssuedCertificate> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as KeyPair;
  const names: x509.JsonGeneralName[] = [
    { type: "url", value: spiffeUri({ trustDomain: request.trustDomain, workload: request.workload }) },
    ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    subject: `CN=${request.workload}`,
    issuer: ca.certificate.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    notBefore: request.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: request.notAfter ?? new Date(Date.now() + 30 * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { certificate: certificate.toString("pem"), privateKey: await privateKeyPem(keys.privateKey) };
}

/** Options of {@link ensureDevelopmentCertificates}. */
export interface DevelopmentCertificatesOptions {
  /** The folder: `ca/` (CA certificate and key) and one `<workload>/` with `tls.crt`, `tls.key`, `ca.crt` each. */
  dir: string;
  trustDomain: string;
  workloads: readonly string[];
  /** Workload certificates' lifetime; default 30 days. */
  validityDays?: number;
  /** Re-issue a certificate with less than this left; default 10 days (the CA: 30 days). */
  renewWithinDays?: number;
}

/** What {@link ensureDevelopmentCertificates} did. */
export interface DevelopmentCertificatesReport {
  /** True when a new CA was made (every workload certificate is then issued again). */
  newAuthority: boolean;
  /** Workloads whose certificate was issued now. */
  issued: string[];
}

/**
 * Makes sure `dir` holds a development CA and a valid certificate for each workload, in the
 * layout cert-manager gives a mounted Secret (`<workload>/tls.crt`, `tls.key`, `ca.crt`). Existing
 * certificates are kept while they are signed by the CA, name the right SPIFFE ID and have more than
 * `renewWithinDays` left; others are issued again (rotation). Keys are written with mode 0600, and
 * each file is replaced atomically.
 */
export async function ensureDevelopmentCertificates(options: DevelopmentCertificatesOptions): Promise<DevelopmentCertificatesReport> {
  const renewWithinMs = (options.renewWithinDays ?? 10) * DAY_MS;
  const caDir = join(options.dir, "ca");
  let ca = await loadAuthority(caDir);
  const newAuthority = !ca || ca.certificate.notAfter.getTime() - Date.now() < Math.max(renewWithinMs, 30 * DAY_MS);
  if (newAuthority) {
    ca = await createCertificateAuthority();
    await mkdir(caDir, { recursive: true, mode: 0o700 });
    await writeAtomically(join(caDir, "ca.key"), await privateKeyPem(ca.keys.privateKey), 0o600);
    await writeAtomically(join(caDir, "ca.crt"), ca.pem, 0o644);
  }
  const authority = ca as CertificateAuthority;
  const issued: string[] = [];
  for (const workload of options.workloads) {
    const dir = join(options.dir, workload);
    if (!newAuthority && (await stillGood(dir, authority, options.trustDomain, workload, renewWithinMs))) continue;
    const certificate = await issueCertificate(authority, {
      trustDomain: options.trustDomain,
      workload,
      dnsNames: ["localhost", workload],
      notAfter: new Date(Date.now() + (options.validityDays ?? 30) * DAY_MS),
    });
    await writeWorkloadFiles(dir, certificate, authority.pem);
    issued.push(workload);
  }
  return { newAuthority, issued };
}

/** Writes `tls.key`, `tls.crt` and `ca.crt` into `dir` (created if missing), each atomically. */
export async function writeWorkloadFiles(dir: string, certificate: IssuedCertificate, caPem: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomically(join(dir, "ca.crt"), caPem, 0o644);
  await writeAtomically(join(dir, "tls.key"), certificate.privateKey, 0o600);
  await writeAtomically(join(dir, "tls.crt"), certificate.certificate, 0o644);
}

async function stillGood(
  dir: string,
  ca: CertificateAuthority,
  trustDomain: string,
  workload: string,
  renewWithinMs: number,
): Promise<boolean> {
  try {
    const [pem, key, trusted] = await Promise.all([
      readFile(join(dir, "tls.crt"), "utf8"),
      readFile(join(dir, "tls.key"), "utf8"),
      readFile(join(dir, "ca.crt"), "utf8"),
    ]);
    const certificate = new NodeCertificate(pem);
    const id = spiffeIdOfSubjectAltName(certificate.subjectAltName);
    return (
      key.includes("PRIVATE KEY") &&
      trusted.trim() === ca.pem.trim() &&
      certificate.checkIssued(new NodeCertificate(ca.pem)) &&
      certificate.verify(new NodeCertificate(ca.pem).publicKey) &&
      id?.trustDomain === trustDomain &&
      id.workload === workload &&
      new Date(certificate.validTo).getTime() - Date.now() > renewWithinMs
    );
  } catch {
    return false;
  }
}

/** The CA kept in `dir` (`ca.crt`, `ca.key`), or undefined when there is none or it cannot be read. */
export async function loadAuthority(dir: string): Promise<CertificateAuthority | undefined> {
  try {
    const [pem, keyPem] = await Promise.all([readFile(join(dir, "ca.crt"), "utf8"), readFile(join(dir, "ca.key"), "utf8")]);
    const certificate = new x509.X509Certificate(pem);
    const privateKey = await webcrypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(keyPem), ALGORITHM, true, ["sign"]);
    const publicKey = await certificate.publicKey.export(ALGORITHM, ["verify"]);
    return { certificate, keys: { privateKey, publicKey }, pem: certificate.toString("pem") };
  } catch {
    return undefined;
  }
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text.endsWith("\n") ? text : `${text}\n`, { mode });
  await rename(temporary, path);
}
