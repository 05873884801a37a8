import type { NodeAddress } from '@p2pvps/protocol/agent-schemas';
import { plainHttpProblem } from '@p2pvps/protocol/transport';

/**
 * The server nodes this device may talk to, and the one it talks to now. A single server
 * is one node: the server URL and the gateway of the registration. A cluster sends its
 * live nodes with every heartbeat reply; the agent keeps them in its state file, and when
 * its node cannot be reached (the tunnel does not come back, a call finds nobody there) it
 * moves to the next one, round the list, with the callers' backoff between tries. The
 * tunnel (which carries the nudges) and the API calls follow the same current node, so a node
 * that died is left by whichever notices first, once.
 *
 * Trust does not change with the node: every node shares the public URL the requests are
 * signed for and the gateway host key pinned at registration (a node showing another key
 * is refused as before), and a node's API URL is held to the same rule as the server URL
 * (https, unless loopback or the owner allowed plain http).
 */
export class ServerNodes {
  private nodes: NodeAddress[];
  private index = 0;

  constructor(
    /** The server URL and the registration's gateway: always in the list, last, as DNS may still lead somewhere alive. */
    private readonly home: NodeAddress,
    private readonly o: {
      allowPlainHttp: boolean;
      log: (level: 'info' | 'warn', msg: string) => void;
      /** The list changed: keep it across restarts. */
      save?: (nodes: NodeAddress[]) => void;
    },
    known: readonly NodeAddress[] = [],
  ) {
    this.nodes = this.withHome(known);
  }

  /** The node to talk to now. */
  current(): NodeAddress {
    return this.nodes[this.index] ?? this.home;
  }

  /** All nodes in the order they are tried. */
  list(): readonly NodeAddress[] {
    return this.nodes;
  }

  /** The cluster's live nodes as the server sent them. Stays on the current node if it is still listed. */
  learn(fromServer: readonly NodeAddress[] | undefined): void {
    if (!fromServer) return;
    const usable = fromServer.filter((n) => {
      const problem = this.o.allowPlainHttp ? null : plainHttpProblem(n.apiUrl, 'insecureHttp');
      if (problem) this.o.log('warn', `not using the server node ${n.apiUrl}: ${problem}`);
      return !problem;
    });
    const next = this.withHome(usable);
    if (sameList(next, this.nodes)) return;
    const current = this.current();
    this.nodes = next;
    this.index = Math.max(
      0,
      next.findIndex((n) => sameNode(n, current)),
    );
    this.o.log('info', `server nodes: ${next.map(describe).join(', ')}`);
    this.o.save?.(usable);
  }

  /**
   * `node` could not be reached: move on to the next node, unless another part of the
   * agent has moved already (then the current one is kept). Returns the node to try next.
   */
  unreachable(node: NodeAddress): NodeAddress {
    if (!sameNode(node, this.current()) || this.nodes.length < 2) return this.current();
    this.index = (this.index + 1) % this.nodes.length;
    this.o.log('warn', `the server node ${describe(node)} cannot be reached; moving to ${describe(this.current())}`);
    return this.current();
  }

  /** A call to `apiUrl` found nobody there; ignored if the agent is elsewhere by now. */
  apiUnreachable(apiUrl: string): void {
    if (this.current().apiUrl === apiUrl) this.unreachable(this.current());
  }

  /** The tunnel could not be opened to `gateway`; ignored if the agent is elsewhere by now. */
  gatewayUnreachable(gateway: { host: string; port: number }): void {
    const { host, port } = this.current().gateway;
    if (host === gateway.host && port === gateway.port) this.unreachable(this.current());
  }

  private withHome(nodes: readonly NodeAddress[]): NodeAddress[] {
    const list: NodeAddress[] = [];
    for (const n of [...nodes, this.home]) if (!list.some((m) => sameNode(m, n))) list.push(n);
    return list;
  }
}

function sameNode(a: NodeAddress, b: NodeAddress): boolean {
  return (
    a.apiUrl.replace(/\/+$/, '') === b.apiUrl.replace(/\/+$/, '') && a.gateway.host === b.gateway.host && a.gateway.port === b.gateway.port
  );
}

function sameList(a: readonly NodeAddress[], b: readonly NodeAddress[]): boolean {
  return a.length === b.length && a.every((n, i) => sameNode(n, b[i]!));
}

function describe(n: NodeAddress): string {
  return `${n.apiUrl} (gateway ${n.gateway.host}:${n.gateway.port})`;
}
