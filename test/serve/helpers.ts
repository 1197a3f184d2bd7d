// What the studio's tests share: a server on an ephemeral port of 127.0.0.1 with its own runs
// folder, raw HTTP requests (the path sent exactly as written, no client-side normalisation), and
// an event-stream reader for jobs.
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { Studio, StudioOptions, startStudio } from '../../src/serve/server';

export async function studio(o: StudioOptions = {}): Promise<{ s: Studio; runsDir: string; tmp: string }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'refinery-studio-'));
  const runsDir = path.join(tmp, 'runs');
  fs.mkdirSync(runsDir);
  const s = await startStudio({ port: 0, runsDir, threads: 1, pollMs: 100, ...o });
  return { s, runsDir, tmp };
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request with `rawPath` sent as it is. */
export function request(port: number, method: string, rawPath: string, o: { body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

export const json = (r: Reply): any => JSON.parse(r.body);

export interface SseEvent { event: string; data: any }

export interface JobHandle {
  /** The events so far. */
  events: SseEvent[];
  /** Resolves with the first event (past or future) for which `pred` holds. */
  waitFor(pred: (e: SseEvent) => boolean): Promise<SseEvent>;
  /** Closes the connection, as a closed tab does. */
  abort(): void;
  /** Resolves when the stream ends (or at once with the status and error of a refused job). */
  done: Promise<{ status: number; events: SseEvent[]; error?: string }>;
}

/** POSTs a job of `kind` (default diffusion) for `client` (default "test") and reads its events. */
export function startJob(port: number, params: Record<string, unknown>, o: { client?: string; kind?: string } = {}): JobHandle {
  const events: SseEvent[] = [];
  const waiters: { pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  let req!: http.ClientRequest;
  let aborted = false;
  const done = new Promise<{ status: number; events: SseEvent[]; error?: string }>((resolve, reject) => {
    const body = JSON.stringify({ params, client: o.client ?? 'test' });
    req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/api/kinds/${o.kind ?? 'diffusion'}/jobs`, headers: { 'content-type': 'application/json' } }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        if (res.statusCode !== 200) return;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const ev = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (!ev || data === undefined) continue;
          const e = { event: ev, data: JSON.parse(data) };
          events.push(e);
          for (const w of waiters.filter((x) => x.pred(e))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
        }
      });
      const finish = (): void => {
        if (res.statusCode !== 200) resolve({ status: res.statusCode ?? 0, events, error: JSON.parse(buf).error });
        else resolve({ status: 200, events });
      };
      res.on('end', finish);
      res.on('close', () => { if (aborted) resolve({ status: 200, events }); });
      res.on('error', () => { if (!aborted) reject(new Error('stream error')); });
    });
    req.on('error', (e) => { if (aborted) resolve({ status: 200, events }); else reject(e); });
    req.end(body);
  });
  return {
    events,
    waitFor: (pred) => {
      const seen = events.find(pred);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    abort: () => { aborted = true; req.destroy(); },
    done,
  };
}

/** A job to its end. */
export const job = (port: number, params: Record<string, unknown>, o: { client?: string; kind?: string } = {}) => startJob(port, params, o).done;

/** The pixels of a PNG data URL (or file buffer): width, height and the gray/RGBA bytes. */
export function pngPixels(src: string | Buffer): { width: number; height: number; data: Buffer } {
  const buf = typeof src === 'string' ? Buffer.from(src.replace(/^data:image\/png;base64,/, ''), 'base64') : src;
  const png = PNG.sync.read(buf);
  return { width: png.width, height: png.height, data: png.data };
}

/** Polls `fn` every 50 ms until it returns a truthy value (or throws after `ms`). */
export async function until<T>(fn: () => T | Promise<T>, what: string, ms = 20000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
