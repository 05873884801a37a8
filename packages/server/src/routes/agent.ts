import type { Registration } from '@p2pvps/protocol/agent-schemas';
import type { DeviceBackup } from '@p2pvps/protocol/federation-backup-schemas';
import { routes } from '@p2pvps/protocol/routes';
import type { FastifyInstance } from 'fastify';
import type { NodeDirectory } from '../cluster/node-directory.ts';
import type { DomainContext } from '../domain/context.ts';
import { acceptBenchmark } from '../domain/devices/benchmarks.ts';
import { registerDevice } from '../domain/devices/devices.ts';
import { refuseOutdatedAgent, syncDevice } from '../domain/rentals/agent-sync.ts';
import type { EventStreams } from '../events/event-streams.ts';
import { openEventStream } from '../events/sse-stream.ts';
import type { UserEvents } from '../events/user-events.ts';
import { mount, type Authenticator } from './register.ts';

export function agentRoutes(
  app: FastifyInstance,
  auth: Authenticator,
  ctx: DomainContext,
  gateway: Registration['gateway'],
  streams: EventStreams,
  userEvents?: UserEvents,
  nodes?: NodeDirectory,
  /** Our backup peers (federation/backup-home.ts): each heartbeat reply says where the device goes when we are away. */
  backups?: { deviceBackups(deviceId: string): Promise<DeviceBackup[]> },
): void {
  mount(app, auth, routes.agentRegister, ({ body }) => registerDevice(ctx, body, gateway));
  mount(app, auth, routes.agentBenchmark, ({ body }, caller) => acceptBenchmark(ctx, caller.deviceId!, body));
  mount(app, auth, routes.agentHeartbeat, async ({ body }, caller) => {
    refuseOutdatedAgent(body);
    // Pages are told only when the heartbeat changed something they show, not every time a device says it is still here.
    const reply = await syncDevice(ctx, caller.deviceId!, body, () => userEvents?.deviceChanged(caller.deviceId!));
    // In a cluster, where to go when this node is gone.
    const live = await nodes?.liveNodes();
    const peers = await backups?.deviceBackups(caller.deviceId!);
    return { ...reply, ...(live?.length ? { nodes: live } : {}), ...(peers?.length ? { backups: peers } : {}) };
  });

  // Server-sent event streams. Hijacked responses are invisible to fastify's close, so end them ourselves.
  app.addHook('onClose', async () => streams.close());
  // The dashboard's live updates: a `changed` event whenever one of the user's devices or
  // rentals changes; the page fetches again. Session cookie or API token.
  app.get('/api/v1/events', async (req, reply) => {
    const caller = await auth.user(req);
    openEventStream(
      streams,
      req,
      reply,
      { userId: caller.user.id, tokenId: caller.tokenId },
      ['hello', {}],
      (send) => userEvents?.subscribe(caller.user.id, (what) => send(what, {})) ?? (() => {}),
    );
  });
}
