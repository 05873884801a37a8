/**
 * The event loop's delay in a bench child (the server or the device) while the bench asks:
 * `{ type: 'loop-delay', action: 'start' }` begins a window, `'stop'` ends it and replies
 * `{ type: 'loop-delay-result', ... }` with the delay's p50, p99 and max over the window and
 * with BENCH_LOOP_STALL_MS the stalls (the loop late by more than that many ms) with when they
 * began, so a tail in wrk's latencies can be put beside `--trace-gc` or a profile. With
 * BENCH_WINDOW_PROF (a directory), each window is also a V8 CPU profile of its own there
 * (`<pid>-<n>.cpuprofile`): the phase alone, without the start-up and the API calls.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface LoopDelayResult {
  type: 'loop-delay-result';
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Stalls over the threshold: [ms since the window began, how late the loop was, ms]. */
  stalls: [number, number][];
  pid: number;
  /** JavaScript heap in use at the end of the window, MB. */
  heapMB: number;
}

export function answerLoopDelay(): void {
  // The list of stalls takes a 1 ms timer of its own: only when asked for.
  const stallMs = process.env.BENCH_LOOP_STALL_MS ? Number(process.env.BENCH_LOOP_STALL_MS) : undefined;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let start = 0;
  let stalls: [number, number][] = [];
  let ticker: NodeJS.Timeout | undefined;
  const profileDir = process.env.BENCH_WINDOW_PROF;
  // BENCH_WINDOW_ALLOC (a directory): where each window's allocations were made, garbage included (`.heapprofile`).
  const allocDir = process.env.BENCH_WINDOW_ALLOC;
  const session = profileDir || allocDir ? new Session() : undefined;
  let windows = 0;
  if (session) {
    session.connect();
    if (profileDir) session.post('Profiler.enable');
    if (allocDir) session.post('HeapProfiler.enable');
  }
  process.on('message', (m: { type?: string; action?: string }) => {
    if (m?.type !== 'loop-delay') return;
    // With BENCH_WINDOW_MARKS, a line on stdout where each window starts and ends, among --trace-gc's.
    if (process.env.BENCH_WINDOW_MARKS) console.log(`[${process.pid}] loop-delay window ${m.action}`);
    if (m.action === 'start') {
      histogram.reset();
      histogram.enable();
      if (profileDir) session?.post('Profiler.start');
      if (allocDir)
        session?.post('HeapProfiler.startSampling', {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        } as object);
      start = performance.now();
      stalls = [];
      // A 1 ms timer that notes how late it fires: where in the window the long ticks were.
      let last = start;
      clearInterval(ticker);
      if (stallMs !== undefined)
        ticker = setInterval(() => {
          const now = performance.now();
          const late = now - last - 1;
          if (late > stallMs && stalls.length < 200) stalls.push([Math.round(last - start), Math.round(late * 10) / 10]);
          last = now;
        }, 1);
      return;
    }
    clearInterval(ticker);
    histogram.disable();
    const n = ++windows;
    if (profileDir)
      session?.post('Profiler.stop', (err, r) => {
        if (!err) writeFileSync(join(profileDir, `${process.pid}-${n}.cpuprofile`), JSON.stringify(r.profile));
      });
    if (allocDir)
      session?.post('HeapProfiler.stopSampling', (err, r) => {
        if (!err) writeFileSync(join(allocDir, `${process.pid}-${n}.heapprofile`), JSON.stringify(r.profile));
      });
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const result: LoopDelayResult = {
      type: 'loop-delay-result',
      p50Ms: ms(histogram.percentile(50)),
      p99Ms: ms(histogram.percentile(99)),
      maxMs: ms(histogram.max),
      stalls,
      pid: process.pid,
      heapMB: Math.round(process.memoryUsage().heapUsed / 1e5) / 10,
    };
    process.send?.(result);
  });
}
