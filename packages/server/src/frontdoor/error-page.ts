const reasons: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A complete, small HTTP/1.1 response the front door sends itself (then closes): says
 * what happened in a sentence, carries the stable code in a header, and never shows
 * anything of any device.
 */
export function errorResponse(status: number, code: string, message: string): Buffer {
  const title = `${status} ${reasons[status] ?? 'Error'}`;
  const body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}` +
    `code{color:#666}</style></head><body><h1>${title}</h1><p>${escapeHtml(message)}</p>` +
    `<p><code>${escapeHtml(code)}</code> · p2pvps</p></body></html>\n`;
  const head =
    `HTTP/1.1 ${title}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Cache-Control: no-store\r\nX-P2PVPS-Error: ${code}\r\nConnection: close\r\n\r\n`;
  return Buffer.from(head + body, 'utf8');
}
