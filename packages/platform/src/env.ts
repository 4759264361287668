// Reading settings from the environment: one error type, and the few shapes a setting takes.

/** Raised when an environment variable is malformed; start-up should stop with its message. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * An integer setting from the environment: `fallback` when unset or empty, otherwise a whole number
 * within [`min`, `max`]; throws {@link ConfigError} naming the variable.
 */
export function envInteger(env: NodeJS.ProcessEnv, key: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(`${key} must be an integer ${range}, got "${raw}"`);
  }
  return value;
}

/**
 * A list of positive integers from a comma-separated variable (`"1000,5000,30000"`): `fallback`
 * when unset or empty; throws {@link ConfigError} naming the variable when an item is not one.
 */
export function envIntegerList(env: NodeJS.ProcessEnv, key: string, fallback: readonly number[]): number[] {
  const raw = env[key];
  if (raw === undefined || raw.trim() === "") return [...fallback];
  const values = raw.split(",").map((item) => Number(item.trim()));
  if (values.some((value) => !Number.isSafeInteger(value) || value <= 0)) {
    throw new ConfigError(`${key} must be a comma-separated list of positive integers, got "${raw}"`);
  }
  return values;
}

/** The environment-variable prefix of a service: `billing` -> `BILLING`, `read-model` -> `READ_MODEL`. */
export function envPrefix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
}
