import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import client from 'prom-client';
import { TrafficMeter } from './traffic.ts';

/** A connected pair of real sockets on loopback: what the meter tracks, and the visitor's end. */
async function socketPair(): Promise<{ tracked: net.Socket; visitor: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const visitor = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const tracked = await accepted;
  return {
    tracked,
    visitor,
    close: () => {
      visitor.destroy();
      tracked.destroy();
      server.close();
    },
  };
}

async function carry(pair: { tracked: net.Socket; visitor: net.Socket }, bytes: number): Promise<void> {
  let got = 0;
  const arrived = new Promise<void>((resolve) =>
    pair.tracked.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= bytes) resolve();
    }),
  );
  pair.visitor.write(Buffer.alloc(bytes));
  await arrived;
  pair.tracked.removeAllListeners('data');
}

test("an ended rental's series leave the scrape; what its open connections still carry goes to the database", async () => {
  const registry = new client.Registry();
  const meter = new TrafficMeter(registry);
  const ended = await socketPair();
  const running = await socketPair();
  meter.track(ended.tracked, 'dev1', 'rental-ended', 'http');
  meter.track(running.tracked, 'dev2', 'rental-running', 'http');
  await carry(ended, 100);
  await carry(running, 50);
  meter.collect();
  assert.match(await registry.metrics(), /p2pvps_rental_bytes_total\{rental="rental-ended",direction="in"\} 100/);

  meter.rentalEnded('rental-ended');
  await carry(ended, 7);
  meter.collect();
  const text = await registry.metrics();
  assert.doesNotMatch(text, /rental="rental-ended"/);
  assert.match(text, /p2pvps_rental_bytes_total\{rental="rental-running",direction="in"\} 50/);
  assert.match(text, /p2pvps_device_bytes_total\{device="dev1",direction="in"\} 107/, 'the device still counts it');
  assert.deepEqual(meter.drainUnsaved().get('rental-ended'), { in: 107, out: 0 }, 'the database gets every byte');
  ended.close();
  running.close();
});
