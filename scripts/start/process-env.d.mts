/** What `npm start` adds to the environment of process `name` (given the caller's `env`). */
export declare function startProcessEnv(name: string, env?: Record<string, string | undefined>): Record<string, string>;
