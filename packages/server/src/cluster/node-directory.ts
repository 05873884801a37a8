import type { NodeAddress } from '@p2pvps/protocol/agent-schemas';
import { opt } from '@p2pvps/protocol/options';
import { z } from 'zod';

/**
 * Which nodes of the cluster are alive, as devices reach them. Devices get this list with
 * every heartbeat reply and, when their node is gone, go to the next one
 * (agent/server-nodes.ts). A node registry in the database can stand behind this
 * interface; `StaticNodeDirectory` is the operator's list from --cluster-nodes.
 */
export interface NodeDirectory {
  liveNodes(): Promise<NodeAddress[]>;
}

/** The nodes the operator named: all of them, alive or not (a device skips a dead one by itself). */
export class StaticNodeDirectory implements NodeDirectory {
  constructor(private readonly nodes: readonly NodeAddress[]) {}

  async liveNodes(): Promise<NodeAddress[]> {
    return [...this.nodes];
  }
}

/**
 * `--cluster-nodes`: nodes separated by commas, each `API_URL GATEWAY_HOST:PORT`, e.g.
 * `https://node1.example.org 198.51.100.1:2222, https://node2.example.org node2.example.org:2222`.
 * An IPv6 gateway host goes in brackets. Returns the nodes, or a sentence saying what is wrong.
 */
export function parseClusterNodes(spec: string): NodeAddress[] | string {
  if (spec.trim() === '') return [];
  const nodes: NodeAddress[] = [];
  for (const part of spec.split(',')) {
    const words = part.trim().split(/\s+/);
    const [apiUrl, gateway] = words;
    if (words.length !== 2 || !apiUrl || !gateway) return `"${part.trim()}" is not "API_URL GATEWAY_HOST:PORT"`;
    if (!URL.canParse(apiUrl) || !/^https?:$/.test(new URL(apiUrl).protocol)) return `"${apiUrl}" is not an http(s) URL`;
    const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(gateway);
    const port = Number(hostPort?.[2]);
    if (!hostPort || port < 1 || port > 65_535) return `"${gateway}" is not a gateway HOST:PORT`;
    nodes.push({ apiUrl: apiUrl.replace(/\/+$/, ''), gateway: { host: hostPort[1]!.replace(/^\[|\]$/g, ''), port } });
  }
  if (nodes.length > 64) return 'at most 64 nodes';
  return nodes;
}

/** The cluster's options, spread into the server's option table (config.ts). */
export const nodeDirectoryOptions = {
  clusterNodes: {
    flag: 'cluster-nodes',
    env: 'P2PVPS_CLUSTER_NODES',
    description:
      'Every node of this cluster as devices reach it, comma-separated "API_URL GATEWAY_HOST:PORT" (this node too): devices get the list ' +
      "and move to the next node when theirs is gone. The nodes share the database, --public-url, and the data dir's gateway_host_ed25519_key " +
      'and secret-box.key. Unset: a single server.',
    schema: opt.string().transform((v, ctx) => {
      const nodes = parseClusterNodes(v);
      if (typeof nodes !== 'string') return nodes;
      ctx.issues.push({ code: 'custom', message: nodes, input: v });
      return z.NEVER;
    }),
    default: '',
  },
};
