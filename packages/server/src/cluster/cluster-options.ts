import { nodeIdentity } from './node-identity.ts';
import { opt } from '@p2pvps/protocol/options';
import { secretFile } from '../secret-file-option.ts';
import { minSecretLength } from './cluster-keys.ts';

/** `HOST:PORT`, `[v6]:PORT`. */
const hostPort = () =>
  opt
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'must look like 10.0.0.5:7400 or [fd00::5]:7400')
    .transform((v) => {
      const at = v.lastIndexOf(':');
      return { host: v.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(v.slice(at + 1)) };
    })
    .refine(({ port }) => port <= 65535, 'the port must be at most 65535');

/**
 * A cluster: several `p2pvps server` nodes on one database. A node with a node link
 * (`--node-link-listen`) registers itself, says which device tunnels it holds, and carries
 * visitors and renters to the node that holds the device they want. Without one the
 * server is a single node, as before.
 */
export const clusterOptions = {
  nodeId: {
    flag: 'node-id',
    env: 'P2PVPS_NODE_ID',
    description:
      "This node's name in the cluster's shared rows (who leads the periodic work, who holds which tunnel). Unset: the host name and a random suffix, new at each start.",
    schema: opt.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, dots, dashes or underscores'),
    default: () => nodeIdentity(undefined),
  },
  nodeLinkListen: {
    flag: 'node-link-listen',
    env: 'P2PVPS_NODE_LINK_LISTEN',
    description:
      'HOST:PORT the node-to-node link listens on (SSH, authenticated by --cluster-secret-file). Set on every node of a cluster; unset: a single node.',
    schema: hostPort().optional(),
  },
  nodeLinkAdvertise: {
    flag: 'node-link-advertise',
    env: 'P2PVPS_NODE_LINK_ADVERTISE',
    description: "HOST:PORT other nodes dial to reach this node's link, when it is not --node-link-listen (which binds 0.0.0.0, say).",
    schema: hostPort().optional(),
    default: (v: Record<string, unknown>) => {
      const listen = v.nodeLinkListen as { host: string; port: number } | undefined;
      return listen && `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    },
  },
  clusterSecretFile: {
    flag: 'cluster-secret-file',
    env: 'P2PVPS_CLUSTER_SECRET_FILE',
    description: `A file (mode 0600, the same on every node) holding the cluster secret, at least ${minSecretLength} characters (openssl rand -hex 32).`,
    schema: secretFile(),
  },
  nodeHeartbeatMs: {
    flag: 'node-heartbeat-ms',
    env: 'P2PVPS_NODE_HEARTBEAT_MS',
    description: 'How often a cluster node says it is alive and looks at the others; one silent for 5 of these is dead.',
    schema: opt.positiveInt(),
    default: '2000',
  },
};

type Values = Partial<Record<string, unknown>>;

export function clusterProblems(v: Values): string[] {
  if (v.nodeLinkListen === undefined) return [];
  const problems: string[] = [];
  const secret = v.clusterSecretFile as string | undefined;
  if (secret === undefined) problems.push('--node-link-listen needs --cluster-secret-file: nodes prove to each other that they know it.');
  else if (secret.length < minSecretLength)
    problems.push(`--cluster-secret-file: the secret must be at least ${minSecretLength} characters.`);
  const advertise = v.nodeLinkAdvertise as { host: string } | undefined;
  if (advertise && ['0.0.0.0', '::'].includes(advertise.host)) {
    problems.push("--node-link-advertise: other nodes cannot dial a wildcard address; name this node's own address.");
  }
  return problems;
}

/** A cluster node's settings from the options, when this server is one (--node-link-listen). */
export function clusterSettings(v: {
  nodeId: string;
  nodeLinkListen?: { host: string; port: number } | undefined;
  nodeLinkAdvertise?: { host: string; port: number } | undefined;
  clusterSecretFile?: string | undefined;
  nodeHeartbeatMs: number;
  publicBindHost: string;
  maxConnectionsPerDevice: number;
}) {
  if (!v.nodeLinkListen || v.clusterSecretFile === undefined) return undefined;
  return {
    nodeId: v.nodeId,
    secret: v.clusterSecretFile,
    listen: v.nodeLinkListen,
    advertise: v.nodeLinkAdvertise ?? v.nodeLinkListen,
    heartbeatMs: v.nodeHeartbeatMs,
    publicBindHost: v.publicBindHost,
    maxConnectionsPerDevice: v.maxConnectionsPerDevice,
  };
}
