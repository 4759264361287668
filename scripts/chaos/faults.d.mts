/** Every kind of fault the schedule injects. */
export declare const FAULT_KINDS: string[];
