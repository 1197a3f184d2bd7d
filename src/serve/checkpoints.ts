// The checkpoints a model kind may offer: the files it ships (when present) and the safetensors
// files of the run folders whose header records a kind it accepts. Only the header is read; a file
// whose header cannot be read is listed with its problem (and refused when asked for).
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile } from '../tensor/safetensors_format';
import { recordedKind } from '../train/checkpoint';

export interface CheckpointEntry {
  /** What a request names: an id of a shipped file, or 'runs/<path below the runs folder>'. */
  id: string;
  path: string;
  /** Set when the header cannot be read (the file is listed, and refused with this). */
  problem?: string;
}

/** Safetensors files in the run folders (at most three levels down, not in checkpoints/ folders). */
function runFiles(runsDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && depth < 3 && e.name !== 'checkpoints' && !e.name.startsWith('.')) walk(p, depth + 1);
      else if (e.isFile() && depth >= 1 && e.name.endsWith('.safetensors')) out.push(p);
    }
  };
  walk(runsDir, 0);
  return out;
}

/** The kind a checkpoint's header records (null: none), or the reason it cannot be read. */
export function headerKind(file: string): { kind: string | null } | { problem: string } {
  let f: SafetensorsFile;
  try {
    f = SafetensorsFile.open(file);
  } catch (e) {
    return { problem: (e as Error).message.replace(/^safetensors: /, '') };
  }
  try {
    let config: unknown = null;
    try {
      config = f.metadata.config === undefined ? null : JSON.parse(f.metadata.config);
    } catch {
      return { problem: 'its metadata "config" is not JSON' };
    }
    return { kind: recordedKind(config, f.metadata) };
  } finally {
    f.close();
  }
}

/**
 * `shipped` (id → path; missing files listed with a problem), then the run folders' files whose
 * recorded kind `accept`s (unreadable ones too, with their problem; files of other kinds are left out).
 */
export function listCheckpoints(runsDir: string, shipped: Record<string, string>, accept: (kind: string | null) => boolean): CheckpointEntry[] {
  const list: CheckpointEntry[] = Object.entries(shipped).map(([id, p]) => ({ id, path: p, problem: fs.existsSync(p) ? undefined : `the shipped checkpoint ${p} is missing` }));
  for (const p of runFiles(runsDir)) {
    const h = headerKind(p);
    if ('kind' in h && !accept(h.kind)) continue;
    list.push({ id: `runs/${path.relative(runsDir, p).split(path.sep).join('/')}`, path: p, problem: 'problem' in h ? h.problem : undefined });
  }
  return list;
}
