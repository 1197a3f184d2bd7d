// The studio's API as the pages use it: JSON reads, and jobs streamed as server-sent events over
// one POST (fetch, so that a refused job's error message reaches the page, and aborting the fetch
// is what cancels the job on the server).

/** One id per tab: the server runs one job per client at a time. */
export const CLIENT = (() => {
  const saved = sessionStorage.getItem('refinery-client');
  if (saved) return saved;
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  sessionStorage.setItem('refinery-client', id);
  return id;
})();

export async function getJSON<T>(url: string): Promise<T> {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error((body as { error?: string }).error ?? `${r.status} ${r.statusText}`);
  return body as T;
}

export type EventHandler = (event: string, data: any) => void;

/** Splits an event-stream text into complete events; returns the unparsed rest. */
export function parseEvents(text: string, on: EventHandler): string {
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\n\n');
    if (end < 0) return rest;
    const frame = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let event = 'message';
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length) on(event, JSON.parse(data.join('\n')));
  }
}

/** Starts a job of `kind` and calls `on` with each event until the stream ends; rejects with the server's error. */
export async function runJob(kind: string, params: Record<string, unknown>, on: EventHandler, signal: AbortSignal): Promise<void> {
  const r = await fetch(`/api/kinds/${encodeURIComponent(kind)}/jobs`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ params, client: CLIENT }), signal,
  });
  if (!r.ok || !r.body) {
    const body = await r.json().catch(() => ({}));
    throw new Error((body as { error?: string }).error ?? `${r.status} ${r.statusText}`);
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf = parseEvents(buf + value, on);
  }
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** A number as a person reads it: 4 significant digits, exponent form when tiny or huge. */
export function fmt(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e6 ? v.toExponential(digits - 1) : Number(v.toPrecision(digits)).toString();
}

/** A cell that shows a number and carries its exact value (data-value) for tests and copy. */
export function numCell(tag: 'td' | 'span', v: number, digits = 4): HTMLElement {
  const e = el(tag, { 'data-value': String(v) }, fmt(v, digits));
  return e;
}
