/** The CRD files deploy/k8s depends on, by file name, with the operator release each is taken from. */
export declare const vendoredCrds: Record<string, string>;
/** Where the schema of a custom resource is kept. */
export declare function schemaFile(plural: string, group: string): string;
