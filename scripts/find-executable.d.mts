/** True when `path` is a file this process may execute. */
export declare function isExecutable(path: string): boolean;
/** The full path of `command` as the shell would find it on `PATH`, or undefined. */
export declare function onPath(command: string, path?: string): string | undefined;
