// Development certificates (a CA and workload certificates, for `npm start` and tests). Importing
// this loads the Reflect metadata polyfill @peculiar/x509 needs: services never import it.
export {
  createCertificateAuthority,
  issueCertificate,
  ensureDevelopmentCertificates,
  writeWorkloadFiles,
  type CertificateAuthority,
  type IssuedCertificate,
  type CertificateRequest,
  type DevelopmentCertificatesOptions,
  type DevelopmentCertificatesReport,
} from "./development-ca.js";
export { parseSpiffeId, spiffeUri, spiffeIdOfSubjectAltName, type SpiffeId } from "./spiffe.js";
