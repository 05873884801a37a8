import { z } from 'zod';

/**
 * Deployment packages (docs/packages.md): a reviewed recipe in packages/apps/NAME.json that
 * the agent installs and starts inside a rental's container, as root, from the Debian
 * packages the renter image carries offline (images/renter/offline-packages.txt).
 */

export const AppPackageName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,39}$/, 'must be 2 to 40 lower-case letters, digits and dashes, starting with a letter');
export type AppPackageName = z.infer<typeof AppPackageName>;

/** A setting's name: what `--set NAME=VALUE` names, `${NAME}` in files, `$NAME` in commands. */
export const SettingName = z.string().regex(/^[A-Z][A-Z0-9_]{0,39}$/, 'must be upper-case letters, digits and _, like SITE_TITLE');
/** A setting's value: one line, no NUL; it reaches files and the commands' environment as it is. */
export const SettingValue = z
  .string()
  .max(500)
  .regex(/^[^\n\r\0]*$/, 'must be one line');

/** Settings every recipe gets without declaring them, filled in by the server. */
export const builtInSettings = ['WEB_HOST'] as const;

const debianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name');
const command = z.string().min(1).max(4000);
const port = z.number().int().min(1).max(65_535);

export const AppRecipe = z
  .object({
    name: AppPackageName,
    description: z.string().min(1).max(300),
    /** Installed with apt-get from the image's offline repository, with their dependencies. */
    debianPackages: z.array(debianPackage).min(1).max(30),
    settings: z.record(SettingName, z.object({ default: SettingValue, description: z.string().min(1).max(200) }).strict()).default({}),
    /** Written after the install, before setup; `${NAME}` in path and content is replaced by the setting. */
    files: z
      .array(
        z
          .object({
            path: z.string().regex(/^\/[^\0\n]*$/, 'must be an absolute path'),
            content: z.string().max(64 * 1024),
            mode: z
              .string()
              .regex(/^0?[0-7]{3}$/, 'must be an octal mode like 0644')
              .default('0644'),
          })
          .strict(),
      )
      .max(20)
      .default([]),
    /** Run once, in order, after the files are written (bash, the settings in the environment). */
    setup: z.array(command).max(20).default([]),
    /** Runs for the rental's life in the background (bash, the settings in the environment); its output goes to the log. */
    start: command,
    /** What the package serves: HTTP on the device's web name, HTTPS by SNI, or SSH (through the rental's SSH port). */
    ports: z
      .array(
        z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('http'), port: z.literal(80) }).strict(),
          z.object({ kind: z.literal('https'), port: z.literal(443) }).strict(),
          z.object({ kind: z.literal('ssh'), port, note: z.string().max(200).optional() }).strict(),
        ]),
      )
      .min(1)
      .max(4),
    /** What the container needs beyond the usual: `tun` gives it /dev/net/tun and CAP_NET_ADMIN (in its own network namespace). */
    needs: z
      .array(z.enum(['tun']))
      .max(1)
      .default([]),
    /** When the package counts as healthy; tried every second until `timeoutSeconds`. */
    health: z
      .object({
        http: z
          .object({ port, path: z.string().regex(/^\/[^\s]*$/, 'must be a path like /') })
          .strict()
          .optional(),
        tcp: z.object({ port }).strict().optional(),
        command: command.optional(),
        timeoutSeconds: z.number().int().min(5).max(900).default(120),
      })
      .strict()
      .refine((h) => [h.http, h.tcp, h.command].filter((x) => x !== undefined).length === 1, 'give exactly one of http, tcp or command'),
  })
  .strict();
export type AppRecipe = z.infer<typeof AppRecipe>;

/** What the catalogue shows of a package (GET /api/v1/packages, `p2pvps packages`). */
export const AppPackageInfo = z.object({
  name: AppPackageName,
  description: z.string(),
  debianPackages: z.array(z.string()),
  settings: z.record(z.string(), z.object({ default: z.string(), description: z.string() })),
  ports: z.array(z.object({ kind: z.enum(['http', 'https', 'ssh']), port: z.number().int() })),
});
export type AppPackageInfo = z.infer<typeof AppPackageInfo>;
export const AppPackageList = z.object({ packages: z.array(AppPackageInfo) });

/** A package asked for at rent: its name and the renter's `--set` values. */
export const RentPackage = z
  .object({
    name: AppPackageName,
    settings: z.record(SettingName, SettingValue).default({}),
  })
  .strict();
export type RentPackage = z.infer<typeof RentPackage>;

/** Where a rental's package is: the agent reports it in its heartbeat, the rental shows it. */
export const AppState = z.enum(['pending', 'installing', 'starting', 'healthy', 'failed']);
export type AppState = z.infer<typeof AppState>;

/** The package the agent installs with a rental: the recipe as it was when rented, its settings filled in. */
export const DesiredApp = z.object({
  recipe: AppRecipe,
  /** Every setting's value (defaults, the renter's, WEB_HOST). */
  settings: z.record(z.string(), z.string()),
});
export type DesiredApp = z.infer<typeof DesiredApp>;

/** The agent's report of a rental's package: how far it got, and the end of its log. */
export const ObservedApp = z
  .object({
    state: AppState,
    log: z.string().max(4000),
  })
  .strict();
export type ObservedApp = z.infer<typeof ObservedApp>;

/** A rental's package as the renter sees it. */
export const RentalApp = z.object({
  name: z.string(),
  settings: z.record(z.string(), z.string()),
  state: AppState,
  /** The last lines of the install and start log. */
  log: z.string(),
  /** Where it answers, once healthy. */
  addresses: z.array(z.string()),
});
export type RentalApp = z.infer<typeof RentalApp>;
