import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppRecipe } from '@p2pvps/protocol/app-packages';
import type { AppCatalogue } from '../domain/packages/app-packages.ts';

/** The reviewed recipes in the repository (docs/packages.md). */
export const defaultAppPackagesDir = fileURLToPath(new URL('../../../apps/', import.meta.url));

/** A recipe file that does not parse or does not fit the format: names the file and each field. */
export class AppRecipeError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
  }
}

/** Parses one recipe file; its name must be the file's name. */
export function parseAppRecipe(file: string, text: string): AppRecipe {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AppRecipeError(file, [`not JSON: ${(err as Error).message}`]);
  }
  const parsed = AppRecipe.safeParse(json);
  if (!parsed.success)
    throw new AppRecipeError(
      file,
      parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`),
    );
  const expected = file.replace(/^.*\//, '').replace(/\.json$/, '');
  if (parsed.data.name !== expected)
    throw new AppRecipeError(file, [`name: is "${parsed.data.name}" but the file is named ${expected}.json`]);
  return parsed.data;
}

/** Every recipe in DIR (`*.json`), checked at load: the first bad file stops the server with its problems. */
export function loadAppCatalogue(dir = defaultAppPackagesDir): AppCatalogue {
  const recipes = new Map<string, AppRecipe>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const file = join(dir, f);
    const recipe = parseAppRecipe(file, readFileSync(file, 'utf8'));
    recipes.set(recipe.name, recipe);
  }
  return { recipes };
}
