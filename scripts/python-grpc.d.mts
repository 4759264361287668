/** The first Python interpreter (path or command) that has the grpc module, or undefined when none has. */
export declare function pythonWithGrpc(): Promise<string | undefined>;
