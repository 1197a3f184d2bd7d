// Refinery Studio: one local HTTP server (fastify) for the web app in web/ (bundled into dist/web
// at build time), a JSON API over the library, and server-sent events for everything that streams:
// a sampling job's steps, a run's metrics as they are appended. Model work runs in a worker thread
// (jobs.ts), so the server answers while a job computes.
//
// Security: it binds 127.0.0.1 unless told otherwise; on a loopback address it answers only requests
// whose Host is that address (a DNS-rebinding page cannot reach it) and refuses cross-origin POSTs;
// files are served only from its assets and the runs folder (files.ts); every parameter is checked
// against the same definitions as the CLI's flags, with limits (limits.ts).
import * as fs from 'fs';
import * as path from 'path';
import type { ServerResponse } from 'http';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FlagSet, FlagValues, UsageError } from '../cli/flags';
import { RefusedPath, contentType, resolveInside } from './files';
import { JobQueue, JobRefused } from './jobs';
import type { ServeContext } from './kind';
import { KINDS } from './kinds';
import { MAX_BODY_BYTES, MAX_QUEUED_JOBS, MAX_RUN_STREAMS } from './limits';
import { MetricsFollower, listRuns, runConfig, runDir, runImages } from './runs';
import { TYPICALITY_PARAMS, oodResults, typicalityNumbers } from './typicality';

export interface StudioOptions {
  /** TCP port (default 7860; 0: any free port). */
  port?: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Folder of the run folders (default "runs"). */
  runsDir?: string;
  /** The built web app (default: dist/web beside this file's dist/src). */
  webDir?: string;
  /** Jobs that may wait, server-wide (default MAX_QUEUED_JOBS). */
  maxQueued?: number;
  /** Intra-op threads of the model worker (default: the library's default). */
  threads?: number;
  /** How often a followed run's files are looked at, in ms (default 500). */
  pollMs?: number;
}

export interface Studio {
  /** The address to open, e.g. http://127.0.0.1:7860/. */
  url: string;
  port: number;
  app: FastifyInstance;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 7860;
export const DEFAULT_HOST = '127.0.0.1';

/** Whether `host` is a loopback address (the server is then reachable from this machine only). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Reads request parameters (JSON values or query strings) with flag definitions: unknown names,
 * and values out of range, are a UsageError naming the parameter, the value and what was expected.
 */
export function parseParams<S extends FlagSet>(flags: S, raw: unknown): FlagValues<S> {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`params: expected an object of parameters, got ${JSON.stringify(raw)}`);
  const given = raw as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!Object.prototype.hasOwnProperty.call(flags, k)) throw new UsageError(`unknown parameter ${JSON.stringify(k)}; valid: ${Object.keys(flags).join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(flags)) {
    const v = given[name];
    if (v === undefined || v === null || v === '') {
      out[name] = f.default;
      continue;
    }
    let text: string;
    if (typeof v === 'string') text = v;
    else if (typeof v === 'number') text = String(v);
    else if (typeof v === 'boolean' && !f.takesValue) text = '';
    else if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string')) text = v.join(',');
    else throw new UsageError(`${name}: expected ${f.expected}, got ${JSON.stringify(v)}`);
    try {
      out[name] = f.takesValue ? f.parse(text, name) : v === true;
    } catch (e) {
      throw new UsageError((e as Error).message.replace(/^--/, ''));
    }
  }
  return out as FlagValues<S>;
}

/** A client's id as the page sends it (a random token per tab), else its address. */
function clientOf(req: FastifyRequest, given: unknown): string {
  if (given !== undefined && (typeof given !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(given))) {
    throw new UsageError(`client: expected 1-64 letters, digits, "_" or "-", got ${JSON.stringify(given)}`);
  }
  return `${req.ip}/${given ?? ''}`;
}

/** An event-stream response: head written at once, events as `event: NAME` + one JSON data line. */
function eventStream(res: ServerResponse): { send(event: string, data: unknown): void; end(): void; ended: () => boolean } {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-content-type-options': 'nosniff' });
  res.flushHeaders();
  let over = false;
  const ping = setInterval(() => res.write(': ping\n\n'), 15000);
  const end = (): void => {
    if (over) return;
    over = true;
    clearInterval(ping);
    res.end();
  };
  res.on('close', () => { over = true; clearInterval(ping); });
  return {
    send: (event, data) => { if (!over) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`); },
    end,
    ended: () => over,
  };
}

const APP_CSP = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** Starts the studio and resolves once it listens. */
export async function startStudio(o: StudioOptions = {}): Promise<Studio> {
  const host = o.host ?? DEFAULT_HOST;
  const port = o.port ?? DEFAULT_PORT;
  const runsDir = path.resolve(o.runsDir ?? 'runs');
  const webDir = path.resolve(o.webDir ?? path.join(__dirname, '..', '..', 'web'));
  if (!fs.existsSync(path.join(webDir, 'index.html'))) {
    throw new Error(`serve: the web app is not built (no ${path.join(webDir, 'index.html')}); run \`bash scripts/setup.sh\` (or \`node scripts/build-ts.js\`)`);
  }
  fs.mkdirSync(runsDir, { recursive: true });
  const ctx: ServeContext = { runsDir };
  const pollMs = o.pollMs ?? 500;
  const jobs = new JobQueue({ ctx, maxQueued: o.maxQueued ?? MAX_QUEUED_JOBS, threads: o.threads });
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, forceCloseConnections: true });
  // JSON bodies only: a cross-site form can send text/plain without a CORS preflight
  app.removeContentTypeParser('text/plain');
  const streams = new Set<() => void>();
  let allowedHosts: Set<string> | null = null; // set once the port is known

  app.addHook('onRequest', async (req, reply) => {
    if (allowedHosts && !allowedHosts.has(String(req.headers.host ?? '').toLowerCase())) {
      return reply.code(403).send({ error: `unexpected Host header ${JSON.stringify(req.headers.host ?? '')}: this server answers only to ${[...allowedHosts].join(', ')}` });
    }
    const origin = req.headers.origin;
    if (req.method !== 'GET' && req.method !== 'HEAD' && origin !== undefined && origin !== `http://${req.headers.host}`) {
      return reply.code(403).send({ error: `cross-origin request from ${origin} refused` });
    }
    reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof UsageError) return reply.code(400).send({ error: err.message });
    if (err instanceof RefusedPath) return reply.code(err.reason === 'outside' ? 403 : 404).send({ error: err.message });
    if (err instanceof JobRefused) return reply.code(err.status).send({ error: err.message });
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no such page: ${req.method} ${req.url}` }));

  const sendFile = (reply: FastifyReply, file: string, headers: Record<string, string> = {}): FastifyReply =>
    reply.headers({ 'content-type': contentType(file), 'cache-control': 'no-cache', ...headers }).send(fs.createReadStream(file));

  // ------------------------------------------------------------------ the app and its assets
  const index = (_req: FastifyRequest, reply: FastifyReply) => sendFile(reply, path.join(webDir, 'index.html'), { 'content-security-policy': APP_CSP });
  app.get('/', index);
  app.get('/assets/*', (req, reply) => sendFile(reply, resolveInside(path.join(webDir, 'assets'), (req.params as { '*': string })['*'])));
  // files of the run folders (grids, reports): scripts in them never run with this origin
  app.get('/runs/*', (req, reply) => sendFile(reply, resolveInside(runsDir, (req.params as { '*': string })['*']), {
    'content-security-policy': "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'",
  }));

  // ------------------------------------------------------------------ model kinds and jobs
  app.get('/api/kinds', async () => Object.values(KINDS).map((k) => ({ name: k.name, title: k.title, options: k.options(ctx) })));
  app.get('/api/status', async () => jobs.status());
  app.post('/api/kinds/:kind/jobs', async (req, reply) => {
    const name = (req.params as { kind: string }).kind;
    const kind = Object.prototype.hasOwnProperty.call(KINDS, name) ? KINDS[name] : undefined;
    if (!kind) throw new RefusedPath('missing', `kind: expected one of ${Object.keys(KINDS).join(', ')}, got ${JSON.stringify(name)}`);
    const body = (req.body ?? {}) as { params?: unknown; client?: unknown };
    if (typeof body !== 'object' || Array.isArray(body)) throw new UsageError('expected a JSON object { params, client }');
    const extra = Object.keys(body).filter((k) => k !== 'params' && k !== 'client');
    if (extra.length) throw new UsageError(`unknown field ${JSON.stringify(extra[0])} in the request; expected { params, client }`);
    const client = clientOf(req, body.client);
    const values = parseParams(kind.params(ctx), body.params);
    const params = kind.check ? kind.check(values, ctx) : (values as Record<string, unknown>);
    const pending: [string, unknown][] = [];
    let stream: ReturnType<typeof eventStream> | null = null;
    const send = (event: string, data: unknown): void => { if (stream) stream.send(event, data); else pending.push([event, data]); };
    let ended = false;
    const cancel = jobs.submit(name, params, client, {
      event: send,
      end: (outcome, message) => {
        ended = true;
        if (outcome === 'error') send('error', { message });
        send('end', { outcome });
        stream?.end();
      },
    });
    reply.hijack();
    stream = eventStream(reply.raw);
    const { file: _file, ...shown } = params as Record<string, unknown>; // the client need not learn server paths
    send('accepted', { params: shown });
    for (const [e, d] of pending.splice(0)) stream.send(e, d);
    if (ended) stream.end();
    // the client went away (closed the page, pressed Cancel): the job stops at its next step
    reply.raw.on('close', () => { if (!ended) cancel(); });
  });

  // ------------------------------------------------------------------ runs
  app.get('/api/runs', async () => ({ runsDir, runs: listRuns(runsDir) }));
  app.get('/api/runs/detail', async (req) => {
    const name = String((req.query as { name?: string }).name ?? '');
    const dir = runDir(runsDir, name);
    return { name, config: runConfig(dir), images: runImages(dir), hasReport: fs.existsSync(path.join(dir, 'index.html')) };
  });
  app.get('/api/runs/metrics', (req, reply) => {
    const name = String((req.query as { name?: string }).name ?? '');
    const dir = runDir(runsDir, name);
    if (streams.size >= MAX_RUN_STREAMS) throw new JobRefused(503, `too many open run streams (${MAX_RUN_STREAMS}); close a tab`);
    reply.hijack();
    const stream = eventStream(reply.raw);
    const follower = new MetricsFollower(path.join(dir, 'metrics.jsonl'));
    let images = '';
    let first = true; // the first event is a whole snapshot (reset): a reconnecting EventSource starts over
    const look = (): void => {
      try {
        const { reset, records } = follower.read();
        if (reset || records.length || first) stream.send('records', { reset: reset || first, records });
        first = false;
        const imgs = runImages(dir).map((f) => `${f}:${fs.statSync(path.join(dir, f)).mtimeMs}`);
        if (imgs.join('|') !== images) {
          images = imgs.join('|');
          stream.send('images', { images: imgs.map((s) => ({ name: s.slice(0, s.lastIndexOf(':')), version: Number(s.slice(s.lastIndexOf(':') + 1)) })) });
        }
      } catch (e) {
        stream.send('problem', { message: (e as Error).message });
      }
    };
    look();
    const timer = setInterval(look, pollMs);
    const stop = (): void => { clearInterval(timer); stream.end(); };
    streams.add(stop);
    reply.raw.on('close', () => { clearInterval(timer); streams.delete(stop); });
  });

  // ------------------------------------------------------------------ typicality
  app.get('/api/typicality', async (req) => typicalityNumbers(parseParams(TYPICALITY_PARAMS, req.query)));
  app.get('/api/typicality/ood', async () => ({ results: oodResults(runsDir) }));

  await app.listen({ port, host });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  if (isLoopback(host)) allowedHosts = new Set([`127.0.0.1:${bound}`, `localhost:${bound}`, `[::1]:${bound}`, `${host}:${bound}`]);
  jobs.warm();
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound}/`,
    port: bound,
    app,
    async close() {
      for (const stop of [...streams]) stop();
      await jobs.close();
      await app.close();
    },
  };
}
