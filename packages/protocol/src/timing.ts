/**
 * Timing shared by server and agent. One place, so the two sides never disagree
 * about when a device counts as gone.
 */
export const timing = {
  /** How often the agent heartbeats when nothing happens. */
  heartbeatIntervalMs: 10 * 60_000,
  /** A device whose tunnel has been down this long is shown offline. */
  offlineAfterMs: 30_000,
  /**
   * A rental whose device has been offline this long ends with reason `device_lost`
   * (billing pauses from the first minute offline; a prepaid term's unused part is returned).
   */
  deviceLostGraceMs: 30 * 60_000,
  /**
   * How long an agent that cannot reach its server keeps an active rental's container and
   * data. Losing the server never wipes at once: the agent keeps both and reconnects, and a
   * rental the server ended meanwhile is wiped when the agent hears of it. Past this limit the
   * agent wipes on its own, before the device can be listed again. Well past
   * deviceLostGraceMs, so a server that ran meanwhile has ended the rental long before; a
   * server outage of a few hours costs no renter their files.
   */
  dataKeepMs: 6 * 60 * 60_000,
  /** How far a device signature's timestamp may be from the server's clock. */
  deviceSignatureSkewMs: 5 * 60_000,
  /**
   * Reconnect backoff for the agent's tunnel (and its nudges). Sized for a server
   * restart with 10,000 devices: a first retry within a second, and a ceiling low
   * enough that a device the gateway's handshake cap turned away is back within 10 s,
   * so all are back within a minute (bench/idle-tunnels.ts), while the retries of
   * devices waiting on a server that is down stay around 1,000 refused connects a second.
   */
  reconnectInitialMs: 1_000,
  reconnectMaxMs: 10_000,
  /** How often the server's worker looks for expired rentals. */
  expiryCheckIntervalMs: 5_000,
  /**
   * How often the agent checks, while a rental runs, that the renter's firewall isolation is
   * still in place and made for the device's current networks (another tool may have flushed
   * or reloaded the firewall), and restores it. A few seconds of exposure at most, for four
   * short iptables-save and ip route runs per check.
   */
  isolationCheckIntervalMs: 5_000,
  /** Keep-alive on the tunnel so a dead NAT mapping is noticed. */
  tunnelKeepaliveMs: 15_000,
  tunnelKeepaliveCountMax: 3,
  /** How long an enrolment token stays valid. */
  enrolmentTokenTtlMs: 24 * 60 * 60_000,
  /** How long a device has to answer a benchmark challenge (the benchmark itself takes seconds). */
  benchmarkChallengeTtlMs: 2 * 60_000,
} as const;

export type Timing = typeof timing;
