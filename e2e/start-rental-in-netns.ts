/**
 * Run inside a test's network namespace (NetnsDockerEngine.command), beside its engine, as
 * the agent runs beside the device's engine: starts one rental's container through the
 * agent's own code (the runtime check at start, then RenterContainers on the renter
 * network, waiting for sshd on the namespace's loopback) and prints its ID and runtime as
 * JSON. Its one argument is JSON: socket, image, runtime, deviceId, sshPort, homeDir,
 * limits, rental.
 */
import Docker from 'dockerode';
import { checkRuntime, type ContainerRuntime } from '@p2pvps/agent/docker/container-runtime';
import { RenterContainers, type ContainerLimits } from '@p2pvps/agent/docker/renter-containers';
import type { DesiredRental } from '@p2pvps/protocol/agent-schemas';

const a = JSON.parse(process.argv[2] ?? '{}') as {
  socket: string;
  image: string;
  runtime: ContainerRuntime;
  deviceId: string;
  sshPort: number;
  homeDir: string;
  limits: ContainerLimits;
  rental: DesiredRental;
};
const docker = new Docker({ socketPath: a.socket });
const runtime = await checkRuntime(docker, a.runtime);
const containers = new RenterContainers({
  docker,
  deviceId: a.deviceId,
  image: a.image,
  network: 'bridge',
  sshPort: a.sshPort,
  httpPort: a.sshPort + 1,
  httpsPort: a.sshPort + 2,
  limits: a.limits,
  runtime,
  log: (m) => console.error(m),
});
await containers.ensureNetwork();
const id = await containers.start(a.rental, a.homeDir, 60_000);
console.log(JSON.stringify({ id, runtime }));
