import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';

/** How much of an exec's output is kept: the log tails the agent reads are smaller. */
const maxOutputBytes = 64 * 1024;

/**
 * Runs `bash -c SCRIPT` as root in a container (the deployment packages' install, start and
 * health checks, app-installer.ts) and waits for it: its exit code and its output, capped.
 */
export async function execInContainer(
  docker: Docker,
  containerId: string,
  script: string,
  env: string[],
): Promise<{ code: number; output: string }> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: ['bash', '-c', script],
    Env: env,
    User: 'root',
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new PassThrough();
  sink.on('data', (b: Buffer) => {
    if (size < maxOutputBytes) chunks.push(b);
    size += b.length;
  });
  docker.modem.demuxStream(stream, sink, sink);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  return { code: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString('utf8') };
}
