/** [source in node_modules, destination under proto/] for each vendored third-party proto. */
export declare const vendoredProtos: Array<[string, string]>;
/** [published source, destination under proto/, npm module generated from it] for protos no npm package ships. */
export declare const specProtos: Array<[string, string, string]>;
