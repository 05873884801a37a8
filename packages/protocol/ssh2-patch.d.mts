// Types for ssh2-patch.mjs (a plain script, so that npm runs it without a TypeScript loader).
export declare const patchedPacketSize: number;
export declare const edits: readonly { file: string; from: string; to: string; count: number }[];
export declare function patchSsh2(options?: { check?: boolean; lib?: string }): string[];
