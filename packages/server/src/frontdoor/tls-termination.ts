import type net from 'node:net';
import tls from 'node:tls';

/**
 * Ends TLS for the server's own name on the HTTPS front door. The door has already read
 * the ClientHello to route by its SNI name; those bytes are put back, and the handshake
 * runs on the same connection with the server's certificate. The decrypted socket is
 * what the API's HTTP server is handed, so it sees `encrypted` and `request.protocol`
 * is https. A client that does not finish the handshake in `handshakeTimeoutMs` is cut off.
 */
export function terminateTls(
  socket: net.Socket,
  clientHello: Buffer,
  context: tls.SecureContext,
  handshakeTimeoutMs: number,
): tls.TLSSocket {
  socket.unshift(clientHello);
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
  const timer = setTimeout(() => secure.destroy(), handshakeTimeoutMs);
  secure.once('secure', () => clearTimeout(timer));
  secure.on('error', () => secure.destroy());
  secure.once('close', () => {
    clearTimeout(timer);
    socket.destroy();
  });
  return secure;
}
