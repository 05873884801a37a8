import assert from 'node:assert/strict';
import { containerNetwork, openSsh } from './harness.ts';

/** A web server for both ports inside the container: it says who it is and what the front door told it. */
const webServer = `
import http.server, ssl, sys, threading, os
name, bind = sys.argv[1], sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = ('hello from %s proto=%s for=%s path=%s\\n' % (name, self.headers.get('X-Forwarded-Proto', 'tls-direct'),
                self.headers.get('X-Forwarded-For', '-'), self.path)).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
def serve(port, tls):
    server = http.server.ThreadingHTTPServer((bind, port), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain('cert.pem', 'key.pem')
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
threading.Thread(target=serve, args=(int(os.environ['P2PVPS_HTTP_PORT']), False), daemon=True).start()
serve(int(os.environ['P2PVPS_HTTPS_PORT']), True)
`;

/**
 * Starts a web server in a rental's container over ssh, on its HTTP and HTTPS ports, with a
 * fresh self-signed certificate for its web name; returns the certificate (PEM). Each
 * answer says `hello from NAME proto=… for=… path=…`: which container, and what the front
 * door told it.
 */
export async function serveWeb(ssh: Parameters<typeof openSsh>[0], host: string, name: string): Promise<string> {
  // On its own network the container is reached on its bridge address (as renters' servers
  // are); sharing the host's network, on loopback only.
  const bind = containerNetwork === 'bridge' ? '0.0.0.0' : '127.0.0.1';
  const script =
    `cat > web.py <<'PY'\n${webServer}\nPY\n` +
    `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=${host} ` +
    `-addext subjectAltName=DNS:${host} -keyout key.pem -out cert.pem 2>/dev/null && ` +
    `(setsid nohup python3 web.py ${name} ${bind} > web.log 2>&1 < /dev/null &) && cat cert.pem`;
  const r = await openSsh(ssh, script);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}
