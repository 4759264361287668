export declare const BASE_IMAGE: string;
export declare const POSTGRES_IMAGE: string;
export declare const RABBITMQ_IMAGE: string;
/** The Node major of the Dockerfile's `ARG NODE_VERSION=<major>`. */
export declare function dockerfileNodeMajor(dockerfile?: string): string;
export declare function nodeImage(major: string): string;
export declare function nodePackageSpec(nodeMajor: string, options?: { arch?: string; dir?: string }): string;
/** Builds whichever stand-in image is missing; returns the names it built. */
export declare function ensureStandins(options?: { engine?: string; nodeMajor?: string; log?: (line: string) => void }): string[];
/** True when `engine pull` fetched the image. */
export declare function pulled(engine: string, image: string, log?: (line: string) => void): boolean;
export declare const RECIPE_LABEL: string;
/** A hash of how the stand-ins are made. */
export declare function recipeHash(): string;
