/** The container engine's command and its compose command, or undefined when no usable engine is present. */
export declare function findContainerEngine(): { engine: string; compose: string[] } | undefined;
