import {
  builtInSettings,
  type AppPackageInfo,
  type AppRecipe,
  type DesiredApp,
  type RentPackage,
  type RentalApp,
} from '@p2pvps/protocol/app-packages';
import { DomainError } from '../errors.ts';

/** The deployment packages this server offers, loaded at start (services/app-catalogue.ts). */
export interface AppCatalogue {
  recipes: ReadonlyMap<string, AppRecipe>;
}

export function presentAppPackage(r: AppRecipe): AppPackageInfo {
  return { name: r.name, description: r.description, debianPackages: r.debianPackages, settings: r.settings, ports: r.ports };
}

/** The catalogue, by name. */
export function listAppPackages(ctx: { appCatalogue?: AppCatalogue }): AppPackageInfo[] {
  return [...(ctx.appCatalogue?.recipes.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name)).map(presentAppPackage);
}

/** Packages a device's owner refuses, from its row (a JSON array, null for none). */
export function refusedPackagesOf(json: string | null | undefined): string[] {
  return json ? (JSON.parse(json) as string[]) : [];
}

/**
 * The package a renter asked for, checked against the catalogue and the device's owner,
 * with every setting filled in: defaults and the renter's values (WEB_HOST is added when it
 * goes to the device: withWebHost).
 * What is stored with the rental is the recipe as it is now, so a later change to the
 * catalogue never alters a running rental.
 */
export function resolveRentPackage(
  catalogue: AppCatalogue | undefined,
  asked: RentPackage,
  device: { refusedPackages: string[]; name: string },
): DesiredApp {
  const recipe = catalogue?.recipes.get(asked.name);
  if (!recipe)
    throw new DomainError('invalid_request', `There is no package named ${asked.name}; "p2pvps packages" lists them.`, {
      'body.package.name': 'unknown package',
    });
  if (device.refusedPackages.includes(recipe.name))
    throw new DomainError(
      'package_refused',
      `The owner of ${device.name} does not allow the package ${recipe.name} on it; "p2pvps market --package ${recipe.name}" lists devices that do.`,
      { 'body.package.name': 'refused by this device' },
    );
  const unknown = Object.keys(asked.settings).filter((k) => !(k in recipe.settings));
  if (unknown.length > 0)
    throw new DomainError(
      'invalid_request',
      `The package ${recipe.name} has no setting ${unknown.join(', ')}; it has ${Object.keys(recipe.settings).join(', ') || 'none'}.`,
      Object.fromEntries(unknown.map((k) => [`body.package.settings.${k}`, 'no such setting'])),
    );
  const settings: Record<string, string> = {};
  for (const [k, s] of Object.entries(recipe.settings)) settings[k] = asked.settings[k] ?? s.default;
  return { recipe, settings };
}

/** The package as the device gets it: with the rental's web name as WEB_HOST. */
export function withWebHost(app: DesiredApp, webHost: string): DesiredApp {
  return { recipe: app.recipe, settings: { ...app.settings, [builtInSettings[0]]: webHost } };
}

/** Where a healthy package answers, from the ports its recipe serves. */
export function appAddresses(recipe: AppRecipe, urls: { httpUrl: string; httpsUrl: string; sshCommand: string }): string[] {
  return recipe.ports.map((p) =>
    p.kind === 'http' ? urls.httpUrl : p.kind === 'https' ? urls.httpsUrl : `${urls.sshCommand}${p.note ? ` (${p.note})` : ''}`,
  );
}

/** A rental's package for its renter: addresses only once healthy. */
export function presentRentalApp(
  stored: { app: string; app_state: string | null; app_log: string | null },
  urls: { httpUrl: string; httpsUrl: string; sshCommand: string },
): RentalApp {
  const app = JSON.parse(stored.app) as DesiredApp;
  const state = (stored.app_state ?? 'pending') as RentalApp['state'];
  const { WEB_HOST: _web, ...settings } = app.settings;
  return {
    name: app.recipe.name,
    settings,
    state,
    log: stored.app_log ?? '',
    addresses: state === 'healthy' ? appAddresses(app.recipe, urls) : [],
  };
}
