/** A function from one output line of `service` to the text to print: pretty on a terminal, the line itself otherwise. */
export declare function logLineFormatter(service: string, options: { pretty: boolean }): (line: string) => string;
/** The pino record in a line, or undefined when the line is not one. */
export declare function parseRecord(line: string): Record<string, unknown> | undefined;
