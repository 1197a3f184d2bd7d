// Refinery Studio's single page: views chosen by the URL's hash (#sampler, #text, #audio, #runs[/NAME],
// #typicality). Leaving a view closes its streams (a running sampling job is cancelled).
import { el, getJSON } from './api';
import { audioPage, leaveAudio } from './audio';
import { leaveRuns, runsPage } from './runs';
import { leaveSampler, samplerPage } from './sampler';
import { leaveText, textPage } from './text';
import { typicalityPage } from './typicality';

async function route(): Promise<void> {
  const root = document.getElementById('page')!;
  const hash = decodeURIComponent(location.hash.slice(1));
  const [page, ...rest] = hash.split('/');
  const name = page || 'sampler';
  leaveSampler();
  leaveText();
  leaveAudio();
  leaveRuns();
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', (a as HTMLElement).dataset.page === name);
  document.body.dataset.page = name;
  delete document.body.dataset.ready;
  try {
    if (name === 'runs') await runsPage(root, rest.length ? rest.join('/') : undefined);
    else if (name === 'typicality') await typicalityPage(root);
    else if (name === 'text') await textPage(root);
    else if (name === 'audio') await audioPage(root);
    else await samplerPage(root);
  } catch (e) {
    root.replaceChildren(el('div', { class: 'error' }, (e as Error).message));
  }
  document.body.dataset.ready = name;
}

async function status(): Promise<void> {
  const s = document.getElementById('server-status')!;
  try {
    const st = await getJSON<{ running: { id: number } | null; queued: number }>('/api/status');
    s.textContent = st.running ? `worker busy (job ${st.running.id}), ${st.queued} waiting` : 'worker idle';
  } catch {
    s.textContent = 'server unreachable';
  }
}

window.addEventListener('hashchange', () => void route());
window.addEventListener('pagehide', () => { leaveSampler(); leaveText(); leaveAudio(); leaveRuns(); });
void route();
void status();
setInterval(() => void status(), 3000);
