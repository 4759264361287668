/** RabbitMQ's rabbit_password_hashing_sha256 of `password`. */
export declare function rabbitPasswordHash(password: string, salt?: Buffer): string;
/** RabbitMQ definitions: the administrator, order and notification users with their permissions. */
export declare function rabbitDefinitions(env: Record<string, string | undefined>): {
  users: Array<{ name: string; password_hash: string; hashing_algorithm: string; tags: string[] }>;
  vhosts: Array<{ name: string }>;
  permissions: Array<{ user: string; vhost: string; configure: string; write: string; read: string }>;
};
/** A JWKS holding the HS256 secret. */
export declare function hs256Jwks(secret: string): { keys: Array<{ kty: string; alg: string; k: string }> };
/** The group of the image's unprivileged `node` user. */
export declare const CONTAINER_GID: number;
/** The workloads docker-compose.yml mounts a certificate folder for. */
export declare const COMPOSE_WORKLOADS: string[];
/** Makes each workload's folder (0750) and key (0640) readable by the container's group; returns what it could not change. */
export declare function shareKeysWithContainer(certsDir: string, workloads?: string[], gid?: number): string[];
