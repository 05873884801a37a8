import client from 'prom-client';
import type { TunnelGateway } from '../gateway/tunnel-gateway.ts';
import { TrafficMeter } from './traffic.ts';

/**
 * The server's Prometheus registry: the process's own figures, traffic per device and
 * rental, the gateway's tunnels, handshakes and refusals, and when the server's
 * certificate expires. Gauges read their figures when scraped.
 */
export function serverMetrics(o: { gateway: () => TunnelGateway | undefined; certificateExpiry?: () => Date | null }) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'p2pvps_server_' });
  const traffic = new TrafficMeter(registry);
  const handshakes = new client.Histogram({
    name: 'p2pvps_tunnel_handshake_seconds',
    help: 'Time from a device connection to its login on the gateway (key exchange and authentication).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  new client.Gauge({
    name: 'p2pvps_tunnels_up',
    help: 'Devices whose tunnel is up (online).',
    registers: [registry],
    collect() {
      this.set(o.gateway()?.onlineDeviceIds().length ?? 0);
    },
  });
  new client.Gauge({
    name: 'p2pvps_tunnel_connections',
    help: 'Device SSH connections to the gateway, logged in or in the handshake.',
    registers: [registry],
    collect() {
      this.set(o.gateway()?.connectionCount() ?? 0);
    },
  });
  if (o.certificateExpiry) {
    const expiresAt = o.certificateExpiry;
    new client.Gauge({
      name: 'p2pvps_tls_certificate_expiry_timestamp_seconds',
      help: "When the certificate for the server's own name expires (Unix time); alert well before it.",
      registers: [registry],
      collect() {
        const at = expiresAt();
        if (at) this.set(at.getTime() / 1000);
      },
    });
  }
  new client.Gauge({
    name: 'p2pvps_gateway_refused_connections',
    help: 'Device connections the gateway refused at accept since it started, by reason (full, early_drop, per_source, penalised).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const stats = o.gateway()?.admissionStats();
      this.set({ reason: 'full' }, stats?.refusedFull ?? 0);
      this.set({ reason: 'early_drop' }, stats?.refusedEarlyDrop ?? 0);
      this.set({ reason: 'per_source' }, stats?.refusedPerSource ?? 0);
      this.set({ reason: 'penalised' }, stats?.refusedPenalised ?? 0);
    },
  });
  return { registry, traffic, handshakes };
}

/** 1 while this node holds the lease for the cluster's periodic work (cluster/leader-lease.ts), else 0. */
export function leaderGauge(registry: client.Registry): client.Gauge {
  return new client.Gauge({
    name: 'p2pvps_cluster_leader',
    help: "1 while this node holds the lease for the cluster's periodic work (metering, expiry, mail), else 0.",
    registers: [registry],
  });
}
