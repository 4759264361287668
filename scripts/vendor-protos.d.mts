/** [source in node_modules, destination under proto/] for each vendored third-party proto. */
export declare const vendoredProtos: Array<[string, string]>;
