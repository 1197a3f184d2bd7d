// The model kinds the studio serves, by URL name. A new kind (text, audio) is one module beside
// diffusion.ts and one line here; the server, the job queue and the worker know no kind by name.
import type { ModelKind } from '../kind';
import { audioKind } from './audio';
import { diffusionKind } from './diffusion';
import { textKindModule } from './text';

export const KINDS: Record<string, ModelKind> = {
  [diffusionKind.name]: diffusionKind as unknown as ModelKind,
  [textKindModule.name]: textKindModule as unknown as ModelKind,
  [audioKind.name]: audioKind as unknown as ModelKind,
};
