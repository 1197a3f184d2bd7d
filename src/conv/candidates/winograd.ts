// Winograd's minimal filtering for 3x3 convolutions (Lavin & Gray 2016, "Fast algorithms for
// convolutional neural networks"): Y = A^T [(G g G^T) ⊙ (B^T d B)] A on overlapping (m+2)x(m+2)
// input tiles, turning the 9 multiplications per output into (m+2)^2/m^2 after the transforms;
// the channel sum becomes (m+2)^2 independent matrix products. F(2x2,3x3) and F(4x4,3x3).
// The input gradient of a stride-1 3x3 convolution is again one (flipped kernel, padding 2 - p).
import { Tensor, functions as torch, tensor } from '../../tensor';
import { ConvCandidate, tooLarge } from '../candidate';
import { ConvProblem } from '../problem';

interface Transform { m: number; BT: number[][]; G: number[][]; AT: number[][] }

// Lavin & Gray 2016, section 4.1 (F(2x2,3x3)) and 4.2 (F(4x4,3x3)).
const F2: Transform = {
  m: 2,
  BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
  G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
  AT: [[1, 1, 1, 0], [0, 1, -1, -1]],
};
const F4: Transform = {
  m: 4,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};

/** kron(M, M): vec(M X M^T) = kron(M, M) vec(X) for row-major vec, so each 2-d transform is one GEMM. */
function kron2(m: number[][]): number[][] {
  const r = m.length;
  const c = m[0].length;
  const out: number[][] = [];
  for (let i = 0; i < r; i++) for (let k = 0; k < r; k++) {
    const row: number[] = [];
    for (let j = 0; j < c; j++) for (let l = 0; l < c; l++) row.push(m[i][j] * m[k][l]);
    out.push(row);
  }
  return out;
}

interface Kron { B: number[][]; G: number[][]; A: number[][] }
const kronCache = new Map<Transform, Kron>();
function kron(t: Transform): Kron {
  let k = kronCache.get(t);
  if (!k) kronCache.set(t, (k = { B: kron2(t.BT), G: kron2(t.G), A: kron2(t.AT) }));
  return k;
}

/** Valid correlation of xp (N, C, Hp, Wp) with w (O, C, 3, 3). */
function winogradValid(xp: Tensor, w: Tensor, t: Transform): Tensor {
  const { m } = t;
  const a = m + 2;
  const [n, c, hp, wp] = xp.shape;
  const o = w.shape[0];
  const ho = hp - 2;
  const wo = wp - 2;
  const th = Math.ceil(ho / m);
  const tw = Math.ceil(wo / m);
  const opts = { dtype: xp.dtype, device: xp.device };
  const K = kron(t);
  // pad so that the tiles cover the output exactly
  const x = torch.constantPadNd(xp, [0, tw * m + 2 - wp, 0, th * m + 2 - hp]);
  const tiles = x.unfold(2, a, m).unfold(3, a, m) // (N, C, th, tw, a, a)
    .permute([4, 5, 0, 1, 2, 3]).reshape([a * a, n * c * th * tw]);
  const V = torch.matmul(tensor(K.B, opts), tiles).reshape([a * a, n, c, th * tw]); // B^T d B per tile
  const U = torch.matmul(w.reshape([o * c, 9]), tensor(K.G, opts).t()) // G g G^T: (O*C, a*a)
    .t().reshape([a * a, 1, o, c]);
  const M = torch.matmul(U, V); // (a*a, N, O, T): the channel sum, one product per tile position
  const Y = torch.matmul(tensor(K.A, opts), M.reshape([a * a, n * o * th * tw])); // A^T M A: (m*m, N*O*T)
  return Y.reshape([m, m, n, o, th, tw]).permute([2, 3, 4, 0, 5, 1]).reshape([n, o, th * m, tw * m])
    .narrow(2, 0, ho).narrow(3, 0, wo);
}

function winograd(t: Transform): ConvCandidate {
  return {
    name: `winograd-f${t.m}`,
    description: `Winograd F(${t.m}x${t.m},3x3) (Lavin & Gray 2016)`,
    // the transforms' entries (up to 8 in F(4,3)'s A^T, 1/24 in G) amplify rounding error
    errorGrowth: t.m === 4 ? 32 : 4,
    applicable(op, p) {
      if (op === 'gradWeight') return 'its weight gradient would be a large-kernel correlation, which Winograd does not cover';
      if (p.dims !== 2) return `2-d only (this convolution is ${p.dims}-d)`;
      const k = p.weightShape.slice(2);
      if (k[0] !== 3 || k[1] !== 3) return `needs a 3x3 kernel (this one is ${k.join('x')})`;
      if (p.stride.some((s) => s !== 1)) return `needs stride 1 (this one is ${p.stride.join(',')})`;
      if (p.dilation.some((s) => s !== 1)) return `needs dilation 1 (this one is ${p.dilation.join(',')})`;
      if (p.groups !== 1) return `needs groups 1 (this one has ${p.groups})`;
      if (op === 'gradInput' && p.padding.some((v) => v > 2)) return `the input gradient needs padding <= 2 (this one is ${p.padding.join(',')})`;
      const [n, c, h, wd] = op === 'forward' ? p.inputShape : p.outputShape;
      const tiles = n * Math.ceil((h + 2) / t.m) * Math.ceil((wd + 2) / t.m) * (t.m + 2) ** 2;
      return tooLarge(tiles * Math.max(c, op === 'forward' ? p.outputShape[1] : p.inputShape[1]) * 2, p, 'transformed tiles');
    },
    forward(x, w, p) {
      const [ph, pw] = p.padding;
      return winogradValid(torch.constantPadNd(x, [pw, pw, ph, ph]), w, t);
    },
    gradInput(gy, w, p) {
      const [ph, pw] = p.padding;
      const gp = torch.constantPadNd(gy, [2 - pw, 2 - pw, 2 - ph, 2 - ph]);
      return winogradValid(gp, w.flip([2, 3]).transpose(0, 1), t);
    },
  };
}

export const winogradF2 = winograd(F2);
export const winogradF4 = winograd(F4);
export type { ConvProblem };
