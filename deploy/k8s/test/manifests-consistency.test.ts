// The manifests say what the code does: the ports are the services' defaults, every variable they set
// is one the code reads (and the config loads with it), the probes hit paths the admin server serves,
// the drain fits in the termination grace, the NetworkPolicies open each gRPC port to exactly the
// workloads its authorization table (services/*/src/access.ts) lets call, each workload mounts the
// certificate of its own SPIFFE ID and connects to its own database, and prod holds no secret.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AccessPolicy, createLogger, startAdminServer } from "@shop/platform";
import type { IContainer, IEnvVar } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadGatewayConfig } from "../../../gateway/src/config.js";
import { inventoryAccess } from "../../../services/inventory/src/access.js";
import { loadInventoryConfig } from "../../../services/inventory/src/inventory-config.js";
import { notificationAccess } from "../../../services/notification/src/access.js";
import { loadNotificationConfig } from "../../../services/notification/src/notification-config.js";
import { orderAccess } from "../../../services/order/src/access.js";
import { loadOrderConfig } from "../../../services/order/src/order-config.js";
import { paymentAccess } from "../../../services/payment/src/access.js";
import { loadPaymentConfig } from "../../../services/payment/src/payment-config.js";
import { containerOf, envOf, find, type K8sObject, type Overlay, ofKind, overlays, portOf, render, repoRoot } from "./manifests.js";

/** What a workload's process reads at start-up: its ports, drain time, and nothing else here. */
interface LoadedConfig {
  port: number;
  adminPort: number;
  shutdownGraceMs: number;
}

interface Workload {
  /** Its config loader, as main.ts calls it. */
  load(env: NodeJS.ProcessEnv): LoadedConfig;
  /** Its authorization table; the gateway, the edge, has none. */
  access?: AccessPolicy;
  /** The folder of its sources (what it reads from process.env beyond its loader). */
  src: string;
}

const WORKLOADS: Record<string, Workload> = {
  order: { load: (env) => loadOrderConfig(env).service, access: orderAccess as AccessPolicy, src: "services/order/src" },
  inventory: { load: (env) => loadInventoryConfig(env).service, access: inventoryAccess as AccessPolicy, src: "services/inventory/src" },
  payment: { load: (env) => loadPaymentConfig(env).service, access: paymentAccess as AccessPolicy, src: "services/payment/src" },
  notification: {
    load: (env) => loadNotificationConfig(env).service,
    access: notificationAccess as AccessPolicy,
    src: "services/notification/src",
  },
  gateway: { load: (env) => loadGatewayConfig(env), src: "gateway/src" },
};
const SERVICES = Object.keys(WORKLOADS).filter((name) => WORKLOADS[name]!.access);

/** What the image sets for every process (Dockerfile: ENV NODE_ENV=production HOST=0.0.0.0). */
const IMAGE_ENV = { NODE_ENV: "production", HOST: "0.0.0.0" };

/** Stand-ins for values only a cluster has: the operators' generated credentials, mounted files. */
const secretFile = join(mkdtempSync(join(tmpdir(), "k8s-secret-")), "secret");
writeFileSync(secretFile, "a-test-secret-of-more-than-thirty-two-bytes");
const SECRET_STAND_INS: Record<string, string> = {
  uri: "postgresql://app:generated@db-rw:5432/app",
  connection_string: "amqp://generated:generated@rabbitmq.shop.svc:5672/",
};

const rendered = new Map<Overlay, K8sObject[]>();
beforeAll(async () => {
  for (const overlay of overlays) rendered.set(overlay, await render(overlay));
});

/** The environment a container starts with: the image's, its ConfigMaps', its own (secrets stood in for). */
function processEnv(objects: K8sObject[], container: IContainer): Record<string, string> {
  const env: Record<string, string> = { ...IMAGE_ENV };
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find(objects, "ConfigMap", source.configMapRef.name!).data);
  }
  for (const variable of container.env ?? []) env[variable.name] = variableValue(objects, variable);
  if (env.GATEWAY_JWT_SECRET_FILE) env.GATEWAY_JWT_SECRET_FILE = secretFile;
  return env;
}

function variableValue(objects: K8sObject[], variable: IEnvVar): string {
  if (variable.value !== undefined) return variable.value;
  const secret = variable.valueFrom?.secretKeyRef;
  if (secret) {
    const standIn = SECRET_STAND_INS[secret.key];
    if (!standIn) throw new Error(`${variable.name}: no stand-in for key ${secret.key} of Secret ${secret.name}`);
    return standIn;
  }
  const configMap = variable.valueFrom?.configMapKeyRef;
  if (configMap) return find(objects, "ConfigMap", configMap.name!).data?.[configMap.key] ?? "";
  throw new Error(`${variable.name}: a value source this test does not know`);
}

/** Loads a workload's config from `env`, recording every variable it looks at. */
function variablesRead(workload: Workload, env: Record<string, string>): { config: LoadedConfig; read: Set<string> } {
  const read = new Set<string>();
  const recording = new Proxy(env, {
    get(target, key) {
      if (typeof key !== "string") return undefined;
      read.add(key);
      return target[key];
    },
  });
  return { config: workload.load(recording), read };
}

/** Variables named literally in a folder's TypeScript (`env.NAME`, `env["NAME"]`, `"NAME"` passed to a reader). */
function variablesNamedIn(folder: string): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts")) {
        const source = readFileSync(path, "utf8");
        for (const match of source.matchAll(
          /\benv(?:\.([A-Z][A-Z0-9_]*)|\[\s*"([A-Z][A-Z0-9_]*)"\s*\])|\(\s*env\s*,\s*"([A-Z][A-Z0-9_]*)"/g,
        )) {
          names.add((match[1] ?? match[2] ?? match[3])!);
        }
      }
    }
  };
  walk(join(repoRoot, folder));
  return names;
}
const platformVariables = variablesNamedIn("packages/platform/src");

function deployment(objects: K8sObject[], name: string): { deployment: K8sObject; container: IContainer } {
  const found = find(objects, "Deployment", name);
  return { deployment: found, container: containerOf(found) };
}

/** The workloads a NetworkPolicy lets reach `port` (a port number or a container port name) of its pods. */
function allowedWorkloads(policy: K8sObject, ports: (number | string)[]): { workloads: Set<string>; open: boolean } {
  const workloads = new Set<string>();
  let open = false;
  for (const rule of policy.spec.ingress ?? []) {
    const rulePorts: (number | string)[] | undefined = rule.ports?.map((port: { port: number | string }) => port.port);
    if (rulePorts && !rulePorts.some((port) => ports.includes(port))) continue;
    if (!rule.from) open = true;
    for (const peer of rule.from ?? []) {
      const name = peer.podSelector?.matchLabels?.["app.kubernetes.io/name"];
      if (name && !peer.namespaceSelector && Object.keys(peer.podSelector.matchLabels).length === 1) workloads.add(name);
      else if (peer.podSelector?.matchLabels?.["cnpg.io/cluster"] === undefined) open = true;
    }
  }
  return { workloads, open };
}

describe.each(overlays)("deploy/k8s/overlays/%s holds to the code", (overlay) => {
  const objects = () => rendered.get(overlay)!;

  it.each(Object.keys(WORKLOADS))("%s: runs the image's entry point that docker-compose.yml runs", (name) => {
    const compose = parse(readFileSync(join(repoRoot, "docker-compose.yml"), "utf8")) as {
      services: Record<string, { command: string[] }>;
    };
    const { container } = deployment(objects(), name);
    expect(container.args).toEqual(compose.services[name]?.command);
    expect(statSync(join(repoRoot, container.args![0]!.replace("/dist/", "/src/").replace(/\.js$/, ".ts"))).isFile()).toBe(true);
  });

  it.each(Object.keys(WORKLOADS))("%s: its ports are the code's defaults, named for the probes, Service and policy", (name) => {
    const workload = WORKLOADS[name]!;
    const defaults = workload.load({});
    const { container } = deployment(objects(), name);
    const publicPort = name === "gateway" ? "http" : "grpc";
    expect(portOf(container, publicPort)).toBe(defaults.port);
    expect(portOf(container, "admin")).toBe(defaults.adminPort);
    // The ports the process binds with the manifest's environment are the ones declared.
    const { config } = variablesRead(workload, processEnv(objects(), container));
    expect([config.port, config.adminPort]).toEqual([defaults.port, defaults.adminPort]);
    const service = find(objects(), "Service", name);
    expect(service.spec.selector).toEqual({ "app.kubernetes.io/name": name });
    expect(service.spec.ports).toEqual(
      expect.arrayContaining([
        { name: publicPort, port: defaults.port, targetPort: publicPort },
        { name: "admin", port: defaults.adminPort, targetPort: "admin" },
      ]),
    );
  });

  it.each(Object.keys(WORKLOADS))("%s: every variable it sets is one the code reads, and its config loads", (name) => {
    const workload = WORKLOADS[name]!;
    const { container } = deployment(objects(), name);
    const env = processEnv(objects(), container);
    const { read } = variablesRead(workload, env);
    const known = new Set([...read, ...platformVariables, ...variablesNamedIn(workload.src)]);
    const set = Object.keys(env).filter((variable) => !(variable in IMAGE_ENV) || container.env?.some((v) => v.name === variable));
    expect(set.filter((variable) => !known.has(variable))).toEqual([]);
  });

  it.each(SERVICES)("%s: gRPC servers cap connection age (GRPC_MAX_CONNECTION_AGE_MS) so clients spread onto new pods", (name) => {
    const env = processEnv(objects(), deployment(objects(), name).container);
    expect(Number(env.GRPC_MAX_CONNECTION_AGE_MS)).toBeGreaterThan(0);
    expect(platformVariables).toContain("GRPC_MAX_CONNECTION_AGE_MS");
  });

  it.each(Object.keys(WORKLOADS))("%s: probes the paths the admin server serves, and drains within its grace period", async (name) => {
    const { deployment: found, container } = deployment(objects(), name);
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "admin" });
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "admin" });
    expect(container.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "admin" });
    const admin = await startAdminServer({
      host: "127.0.0.1",
      port: 0,
      probes: { live: () => true, ready: () => true },
      logger: createLogger("k8s-test", "silent"),
    });
    try {
      for (const path of ["/readyz", "/healthz"]) expect((await fetch(`http://127.0.0.1:${admin.port}${path}`)).status).toBe(200);
    } finally {
      await admin.close();
    }
    const { config } = variablesRead(WORKLOADS[name]!, processEnv(objects(), container));
    const preStopMs = (container.lifecycle?.preStop?.sleep?.seconds ?? 0) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    expect(found.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + config.shutdownGraceMs);
  });

  it.each(Object.keys(WORKLOADS))("%s: runs as non-root on a read-only root filesystem, with requests and limits", (name) => {
    const { deployment: found, container } = deployment(objects(), name);
    const pod = found.spec.template.spec;
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.volumes).toContainEqual({ name: "tmp", emptyDir: expect.any(Object) });
    for (const kind of ["requests", "limits"] as const)
      expect(Object.keys(container.resources?.[kind] ?? {}).sort()).toEqual(["cpu", "memory"]);
    const budget = find(objects(), "PodDisruptionBudget", name);
    expect(budget.spec.selector.matchLabels).toEqual(found.spec.selector.matchLabels);
  });

  it.each(SERVICES)("%s: its gRPC port is open to exactly the callers of its authorization table", (name) => {
    const callers = new Set(Object.values(WORKLOADS[name]!.access!.callers).flat());
    const { container } = deployment(objects(), name);
    const policy = find(objects(), "NetworkPolicy", name);
    expect(policy.spec.podSelector.matchLabels).toEqual({ "app.kubernetes.io/name": name });
    const grpc = allowedWorkloads(policy, ["grpc", portOf(container, "grpc")]);
    expect(grpc.open).toBe(false);
    expect([...grpc.workloads].sort()).toEqual([...callers].sort());
    const admin = allowedWorkloads(policy, ["admin", portOf(container, "admin")]);
    expect(admin.workloads.size).toBe(0);
    const defaultDeny = find(objects(), "NetworkPolicy", "default-deny-ingress");
    expect(defaultDeny.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress"] });
  });

  it.each(Object.keys(WORKLOADS))("%s: its upstreams are dns:/// targets of headless Services that let it in", (name) => {
    const env = processEnv(objects(), deployment(objects(), name).container);
    const upstreams = Object.entries(env).filter(([variable]) => /^[A-Z]+_URL$/.test(variable) && variable !== "AMQP_URL");
    if (name === "order" || name === "gateway") expect(upstreams.length).toBeGreaterThan(0);
    for (const [variable, target] of upstreams) {
      const match = /^dns:\/\/\/([a-z-]+):(\d+)$/.exec(target);
      expect(match, `${variable}=${target}`).not.toBeNull();
      const [, host, port] = match!;
      expect(variable).toBe(`${host!.toUpperCase()}_URL`);
      const service = find(objects(), "Service", host!);
      expect(service.spec.clusterIP).toBe("None");
      expect(service.spec.ports).toContainEqual(expect.objectContaining({ name: "grpc", port: Number(port) }));
      expect(allowedWorkloads(find(objects(), "NetworkPolicy", host!), ["grpc", Number(port)]).workloads).toContain(name);
    }
  });

  it.each(Object.keys(WORKLOADS))("%s: mounts the certificate of its own SPIFFE ID where it reads it", (name) => {
    const { deployment: found, container } = deployment(objects(), name);
    const tlsDir = envOf(container).get(`${name.toUpperCase()}_TLS_DIR`)?.value;
    const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === tlsDir);
    expect(mount?.readOnly).toBe(true);
    const volume = found.spec.template.spec.volumes.find((candidate: { name: string }) => candidate.name === mount?.name);
    const certificate = ofKind(objects(), "Certificate").find((candidate) => candidate.spec.secretName === volume?.secret?.secretName);
    expect(certificate?.spec.uris).toEqual([`spiffe://shop.mesh/${name}`]);
    expect(certificate?.spec.usages).toEqual(expect.arrayContaining(["server auth", "client auth"]));
    expect(find(objects(), certificate?.spec.issuerRef.kind, certificate?.spec.issuerRef.name).spec.ca.secretName).toBe("mesh-ca-keypair");
  });

  it.each(SERVICES)("%s: connects to its own CloudNativePG cluster, a database and role named after it, reachable only by it", (name) => {
    const database = envOf(deployment(objects(), name).container).get(`${name.toUpperCase()}_DATABASE_URL`);
    const secret = database?.valueFrom?.secretKeyRef;
    expect(secret?.key).toBe("uri");
    const clusterName = secret!.name!.replace(/-app$/, "");
    expect(`${clusterName}-app`).toBe(secret?.name); // CloudNativePG writes the owner's credentials to <cluster>-app
    const cluster = find(objects(), "Cluster", clusterName);
    expect(cluster.spec.bootstrap.initdb).toMatchObject({ database: name, owner: name });
    const policy = find(objects(), "NetworkPolicy", clusterName);
    expect(policy.spec.podSelector.matchLabels).toEqual({ "cnpg.io/cluster": clusterName });
    expect([...allowedWorkloads(policy, [5432]).workloads]).toEqual([name]);
  });

  it("lets only the workloads that read AMQP_URL reach RabbitMQ, with the operator's credentials", () => {
    const users = Object.keys(WORKLOADS).filter((name) => envOf(deployment(objects(), name).container).has("AMQP_URL"));
    expect(users.sort()).toEqual(["notification", "order"]);
    for (const name of users) {
      const cluster = ofKind(objects(), "RabbitmqCluster")[0]!;
      expect(envOf(deployment(objects(), name).container).get("AMQP_URL")?.valueFrom?.secretKeyRef).toEqual({
        name: `${cluster.metadata.name}-default-user`,
        key: "connection_string",
      });
    }
    const amqp = allowedWorkloads(find(objects(), "NetworkPolicy", "rabbitmq"), [5672]);
    expect(amqp.open).toBe(false);
    // Besides its own pods (clustering), which are not a workload of the mesh.
    expect([...amqp.workloads].filter((workload) => workload !== "rabbitmq").sort()).toEqual(users.sort());
  });

  it("autoscales the gateway, whose Deployment leaves the replica count to the HPA", () => {
    const hpa = ofKind(objects(), "HorizontalPodAutoscaler");
    expect(hpa.map((object) => object.spec.scaleTargetRef)).toEqual([{ apiVersion: "apps/v1", kind: "Deployment", name: "gateway" }]);
    expect(find(objects(), "Deployment", "gateway").spec.replicas).toBeUndefined();
    expect(deployment(objects(), "gateway").container.resources?.requests?.cpu).toBeDefined();
  });
});

describe("deploy/k8s/overlays/prod", () => {
  const objects = () => rendered.get("prod")!;

  it("holds no secret: no Secret object, every credential a reference to one the operators or the cluster's owner make", () => {
    expect(ofKind(objects(), "Secret")).toEqual([]);
    for (const found of ofKind(objects(), "Deployment")) {
      for (const variable of containerOf(found).env ?? []) {
        if (/SECRET$|PASSWORD|DATABASE_URL$|AMQP_URL$/.test(variable.name)) expect(variable.value, variable.name).toBeUndefined();
        expect(variable.value ?? "").not.toMatch(/:\/\/[^/@]+:[^/@]+@/);
      }
    }
    for (const configMap of ofKind(objects(), "ConfigMap")) {
      for (const value of Object.values(configMap.data ?? {})) expect(value).not.toMatch(/:\/\/[^/@]+:[^/@]+@/);
    }
  });

  it("runs the gateway in production mode, verifying tokens with the mounted Secret gateway-jwt", () => {
    const { deployment: found, container } = deployment(objects(), "gateway");
    const env = envOf(container);
    expect(env.has("NODE_ENV")).toBe(false); // the image's: production
    const file = env.get("GATEWAY_JWT_SECRET_FILE")?.value ?? "";
    const mount = container.volumeMounts?.find((candidate) => file.startsWith(`${candidate.mountPath}/`));
    const volume = found.spec.template.spec.volumes.find((candidate: { name: string }) => candidate.name === mount?.name);
    expect(volume?.secret?.secretName).toBe("gateway-jwt");
  });

  it("runs three of each service and of each database, spread over nodes", () => {
    for (const name of SERVICES) {
      const found = find(objects(), "Deployment", name);
      expect(found.spec.replicas).toBe(3);
      expect(found.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe("DoNotSchedule");
      expect(find(objects(), "Cluster", `${name}-db`).spec.instances).toBe(3);
    }
    expect(ofKind(objects(), "RabbitmqCluster")[0]?.spec.replicas).toBe(3);
  });
});
