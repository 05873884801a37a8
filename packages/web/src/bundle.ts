import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The dashboard is a small Preact app bundled by esbuild when the server starts (about a
 * tenth of a second), so the project keeps no build step and no build output. The bundle
 * is served under a content-hashed name and cached for good; the page itself is not cached.
 */
export interface DashboardBundle {
  js: string;
  css: string;
  jsPath: string;
  cssPath: string;
  html: string;
}

const appDir = join(dirname(fileURLToPath(import.meta.url)), 'app');

export async function buildDashboard(options: { title: string }): Promise<DashboardBundle> {
  const result = await build({
    entryPoints: [join(appDir, 'main.tsx')],
    bundle: true,
    write: false,
    outdir: '/dashboard',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
    // zod is shared with the server for the API's types; the browser needs none of node's.
    platform: 'browser',
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  const css = result.outputFiles.find((f) => f.path.endsWith('.css'))?.text ?? '';
  const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
  const jsPath = `/assets/app-${hash(js)}.js`;
  const cssPath = `/assets/app-${hash(css)}.css`;
  const title = options.title.replace(/[<>&"]/g, '');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${cssPath}">
<script type="module" src="${jsPath}"></script>
</head>
<body>
<div id="app"><p class="loading">Loading ${title}…</p></div>
<noscript>The dashboard needs JavaScript. Everything it does can also be done with the p2pvps command-line tool.</noscript>
</body>
</html>
`;
  return { js, css, jsPath, cssPath, html };
}

/** The dashboard's pages: the server answers each with the app's page, which then shows the view. */
export const dashboardPaths = [
  '/',
  '/login',
  '/signup',
  '/market',
  '/rentals',
  '/rentals/:id',
  '/devices',
  '/devices/:id',
  '/account',
  '/admin',
  '/verify-email',
];
