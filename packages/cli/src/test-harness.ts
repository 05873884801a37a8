import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after } from 'node:test';
import type { Device, Listing, Rental } from '@p2pvps/protocol/schemas';
import type { InputStream } from './context.ts';
import { run } from './run.ts';

/**
 * Runs the CLI in-process against a fake API, capturing what the user would see.
 * Test data comes from the small factories below.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization: string | undefined;
}

/** A reply with a status other than 200; handlers may also return a plain body. */
export class FakeReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** An API error envelope, as the server sends it. */
export const apiError = (status: number, code: string, message: string, fields?: Record<string, string>) =>
  new FakeReply(status, { code, message, ...(fields ? { fields } : {}) });

/** `'PATCH /api/v1/devices/:deviceId'` → handler; path parameters match any segment. */
export type FakeRoutes = Record<string, (req: RecordedRequest) => unknown>;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  requests: RecordedRequest[];
}

export interface RunCliOptions {
  routes?: FakeRoutes;
  env?: Record<string, string | undefined>;
  stdin?: string;
  stdoutIsTTY?: boolean;
  now?: Date;
}

export const NOW = new Date('2025-06-01T12:00:00Z');

const tempDirs: string[] = [];
after(() => Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A fresh directory, removed when the test file finishes. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p2pvps-cli-test-'));
  tempDirs.push(dir);
  return dir;
}

function matches(pattern: string, method: string, path: string): boolean {
  const [patternMethod, patternPath = ''] = pattern.split(' ');
  if (patternMethod !== method) return false;
  const re = new RegExp(`^${patternPath.replace(/:[A-Za-z]+/g, '[^/]+')}$`);
  return re.test(path);
}

export async function runCli(argv: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const requests: RecordedRequest[] = [];
  const fakeFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const req: RecordedRequest = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      authorization: headers.get('authorization') ?? undefined,
    };
    requests.push(req);
    const key = Object.keys(options.routes ?? {}).find((k) => matches(k, req.method, req.path));
    const handler = key === undefined ? undefined : options.routes?.[key];
    if (!handler)
      return Response.json({ code: 'route_not_found', message: 'No such route in the fake API.' }, { status: 404 });
    const reply = handler(req);
    return reply instanceof FakeReply ? Response.json(reply.body, { status: reply.status }) : Response.json(reply);
  };
  let stdout = '';
  let stderr = '';
  const stdin = Readable.from(options.stdin === undefined ? [] : [options.stdin]) as unknown as InputStream;
  const home = options.env?.HOME ?? (await tempDir());
  const code = await run(argv, {
    env: { HOME: home, ...options.env },
    io: {
      stdout: { write: (t: string) => (stdout += t), isTTY: options.stdoutIsTTY ?? false },
      stderr: { write: (t: string) => (stderr += t), isTTY: false },
      stdin,
    },
    fetch: fakeFetch as typeof fetch,
    now: () => options.now ?? NOW,
    sleep: async () => {},
  });
  return { code, stdout, stderr, requests };
}

let counter = 0;
const nextId = (prefix: string) => `${prefix}${String(++counter).padStart(6, '0')}`;

export function createDevice(overrides: Partial<Device> = {}): Device {
  return {
    id: nextId('dev'),
    name: 'kitchen-pi',
    description: '',
    status: 'online',
    online: true,
    onMarket: true,
    listed: true,
    pricePerHourMicros: 50_000,
    sshPort: 2201,
    hardware: { cpuModel: 'Cortex-A72', cores: 4, memoryBytes: 4 * 2 ** 30, diskBytes: 32 * 2 ** 30, arch: 'arm64' },
    enrolledAt: '2025-05-01T00:00:00Z',
    lastHeartbeatAt: '2025-06-01T11:55:00Z',
    lastSeenAt: '2025-06-01T11:59:00Z',
    openRentalId: null,
    createdAt: '2025-05-01T00:00:00Z',
    ...overrides,
  };
}

export function createListing(overrides: Partial<Listing> = {}): Listing {
  return {
    deviceId: nextId('dev'),
    name: 'garage-pi',
    description: '',
    hardware: { cpuModel: 'Cortex-A76', cores: 4, memoryBytes: 8 * 2 ** 30, diskBytes: 64 * 2 ** 30, arch: 'arm64' },
    pricePerHourMicros: 70_000,
    homeServer: 'market.example.org',
    listedSince: '2025-06-01T10:00:00Z',
    ...overrides,
  };
}

export function createRental(overrides: Partial<Rental> = {}): Rental {
  return {
    id: nextId('rent'),
    deviceId: 'dev000999',
    deviceName: 'garage-pi',
    state: 'active',
    endReason: null,
    detail: null,
    createdAt: '2025-06-01T11:00:00Z',
    activatedAt: '2025-06-01T11:00:05Z',
    expiresAt: '2025-06-01T14:00:00Z',
    endedAt: null,
    connection: {
      host: 'market.example.org',
      port: 2201,
      username: 'u_k3j9',
      password: 'correct-horse-battery',
      sshKeyGiven: false,
      sshCommand: 'ssh -p 2201 u_k3j9@market.example.org',
    },
    ...overrides,
  };
}
