export declare const SERVICES: string[];
/** `count` ports the kernel says are free now. */
export declare function freePorts(count: number): Promise<number[]>;
/** A private mesh's settings. */
export interface MeshEnv {
  id: string;
  env: Record<string, string>;
  ports: Record<string, { port: number; adminPort: number }>;
  databases: Record<string, string>;
  amqpPrefix: string;
  drop(): Promise<void>;
}
export declare function createMeshEnv(options?: { label?: string; extra?: Record<string, string> }): Promise<MeshEnv>;
