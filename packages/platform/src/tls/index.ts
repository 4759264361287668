// Development certificates (a CA and workload certificates, for `npm start` and tests). Importing
// this loads the Reflect metadata polyfill @peculiar/x509 needs: services never import it.
export {
  type CertificateAuthority,
  type CertificateRequest,
  createCertificateAuthority,
  type DevelopmentCertificatesOptions,
  type DevelopmentCertificatesReport,
  ensureDevelopmentCertificates,
  type IssuedCertificate,
  issueCertificate,
  writeWorkloadFiles,
} from "./development-ca.js";
export { parseSpiffeId, type SpiffeId, spiffeIdOfSubjectAltName, spiffeUri } from "./spiffe.js";
