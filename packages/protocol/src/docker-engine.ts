import { z } from 'zod';

/**
 * The parts of the Docker engine's `GET /info` reply the agent depends on: which OCI
 * runtimes it knows (its daemon.json `runtimes`, with their arguments) and its security
 * options, where `name=userns` says the engine runs with `userns-remap`; its storage driver
 * and the filesystem under it, which say whether a container's own layer can be capped.
 */
export const DockerEngineInfo = z.object({
  Runtimes: z
    .record(z.string(), z.object({ path: z.string().optional(), runtimeArgs: z.array(z.string()).nullish() }))
    .nullish()
    .transform((r) => r ?? {}),
  DefaultRuntime: z.string().optional(),
  SecurityOptions: z
    .array(z.string())
    .nullish()
    .transform((s) => s ?? []),
  /** The storage driver (overlay2) and its status pairs, such as ["Backing Filesystem", "xfs"]. */
  Driver: z.string().optional(),
  DriverStatus: z
    .array(z.array(z.string()))
    .nullish()
    .transform((s) => s ?? []),
});
export type DockerEngineInfo = z.infer<typeof DockerEngineInfo>;
