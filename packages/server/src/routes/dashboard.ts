import { buildDashboard, dashboardPaths, type DashboardBundle } from '@p2pvps/web/bundle';
import type { FastifyInstance } from 'fastify';

/**
 * Serves the dashboard: its pages (each the same HTML, which shows the view for its path)
 * and its two assets under content-hashed names, cached for good. The bundle is built once,
 * at start. The Content-Security-Policy allows only this origin: no inline script, no
 * third-party anything, no framing.
 */
export function dashboardRoutes(app: FastifyInstance, title: string): void {
  let bundle: Promise<DashboardBundle> | undefined;
  const get = () => (bundle ??= buildDashboard({ title }));
  app.addHook('onReady', async () => {
    await get();
  });
  const csp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
  for (const path of dashboardPaths) {
    app.get(path, async (_req, reply) => {
      const { html } = await get();
      return reply
        .header('content-security-policy', csp)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'same-origin')
        .header('cache-control', 'no-cache')
        .type('text/html; charset=utf-8')
        .send(html);
    });
  }
  app.get('/assets/:file', async (req, reply) => {
    const b = await get();
    const path = `/assets/${(req.params as { file: string }).file}`;
    const body = path === b.jsPath ? b.js : path === b.cssPath ? b.css : undefined;
    if (body === undefined) return reply.status(404).send({ code: 'route_not_found', message: 'There is no such file.' });
    return reply
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .type(path.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8')
      .send(body);
  });
}
