/** glibc's MALLOC_ARENA_MAX for every process under `npm start` and in the container image. */
export declare const MALLOC_ARENA_MAX: string;
/** What `npm start` adds to the environment of process `name` (given the caller's `env`). */
export declare function startProcessEnv(name: string, env?: Record<string, string | undefined>): Record<string, string>;
/** The node flags `npm start` runs every process with (SHOP_NODE_FLAGS, else --optimize-for-size --liftoff-only). */
export declare function startNodeArgs(env?: Record<string, string | undefined>): string[];
