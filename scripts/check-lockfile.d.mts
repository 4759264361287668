/** Every problem that would make `npm ci` refuse the lockfile or install without checking: a person-readable line each. */
export declare function lockfileProblems(lock: { packages?: Record<string, Record<string, unknown>> }): string[];
