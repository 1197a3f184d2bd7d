// FFT convolution (Mathieu et al. 2014, "Fast training of convolutional networks through FFTs";
// Theano's conv2d_fft): a valid correlation is a product in the frequency domain, and the channel
// sum a complex matrix product per frequency. Its cost does not grow with the kernel size, so it
// pays for large kernels, and for the weight gradient, whose "kernel" is the whole output gradient.
import { Tensor, functions as torch } from '../../tensor';
import { ConvCandidate, tooLarge } from '../candidate';
import { ConvProblem, numel } from '../problem';

/**
 * Valid correlation of inp (B, C, H, W) with ker (O, C, kh, kw): out[b,o,i] = sum_c,j inp[b,c,i+j] ker[o,c,j],
 * (B, O, H-kh+1, W-kw+1). Circular correlation of size H x W equals it wherever no index wraps.
 */
export function fftCorrelate(inp: Tensor, ker: Tensor): Tensor {
  const [b, c, h, w] = inp.shape;
  const [o, , kh, kw] = ker.shape;
  const X = torch.fftRfft2(inp, [h, w]); // (B, C, H, W/2+1)
  const K = torch.fftRfft2(ker, [h, w]); // (O, C, H, W/2+1), zero-padded
  const f = X.shape[2] * X.shape[3];
  const Xf = X.reshape([b, c, f]).permute([2, 0, 1]); // (F, B, C)
  const Kf = K.reshape([o, c, f]).permute([2, 1, 0]).conj(); // (F, C, O)
  const Y = torch.bmm(Xf, Kf.resolveConj()) // (F, B, O)
    .permute([1, 2, 0]).reshape([b, o, X.shape[2], X.shape[3]]);
  return torch.fftIrfft2(Y, [h, w]).narrow(2, 0, h - kh + 1).narrow(3, 0, w - kw + 1).contiguous();
}

/** The kernel with d-1 zeros between taps (a dilated kernel as a plain one). */
function dilate(w: Tensor, d: number[]): Tensor {
  if (d.every((v) => v === 1)) return w;
  const [o, c, kh, kw] = w.shape;
  const z = torch.constantPadNd(w.reshape([o, c, kh, 1, kw, 1]), [0, d[1] - 1, 0, 0, 0, d[0] - 1, 0, 0]);
  return z.reshape([o, c, kh * d[0], kw * d[1]]).narrow(2, 0, (kh - 1) * d[0] + 1).narrow(3, 0, (kw - 1) * d[1] + 1);
}

export const fft: ConvCandidate = {
  name: 'fft',
  description: 'FFT convolution (Mathieu et al. 2014): pointwise products of spectra, a complex matrix product per frequency',
  applicable(op, p) {
    if (p.dims !== 2) return `2-d only (this convolution is ${p.dims}-d)`;
    if (p.groups !== 1) return `needs groups 1 (this one has ${p.groups})`;
    if (p.stride.some((s) => s !== 1)) return `needs stride 1: it computes every position (this one is ${p.stride.join(',')})`;
    const k = p.weightShape.slice(2);
    if (op !== 'gradWeight' && numel(k) < 25) return `kernel ${k.join('x')} is small: FFT only pays off from 5x5 up`;
    const [n, c, h, w] = p.inputShape;
    const o = p.weightShape[0];
    const spectra = (h + 2 * p.padding[0] + 2 * p.dilation[0] * k[0]) * (w + 2 * p.padding[1] + 2 * p.dilation[1] * k[1]);
    return tooLarge(2 * spectra * (n * c + n * o + o * c), p, 'spectra');
  },
  forward(x, w, p) {
    const [ph, pw] = p.padding;
    return fftCorrelate(torch.constantPadNd(x, [pw, pw, ph, ph]), dilate(w, p.dilation));
  },
  gradInput(gy, w, p) {
    const k = p.weightShape.slice(2);
    const lh = p.dilation[0] * (k[0] - 1) - p.padding[0];
    const lw = p.dilation[1] * (k[1] - 1) - p.padding[1];
    const [h, wd] = p.inputShape.slice(2);
    const [ho, wo] = p.outputShape.slice(2);
    const rh = h + p.dilation[0] * (k[0] - 1) - lh - ho;
    const rw = wd + p.dilation[1] * (k[1] - 1) - lw - wo;
    const gp = torch.constantPadNd(gy, [lw, rw, lh, rh]);
    return fftCorrelate(gp, dilate(w.flip([2, 3]).transpose(0, 1), p.dilation));
  },
  gradWeight(gy, x, p) {
    const [ph, pw] = p.padding;
    const k = p.weightShape.slice(2);
    const xp = torch.constantPadNd(x, [pw, pw, ph, ph]).transpose(0, 1); // (C, N, Hp, Wp)
    const r = fftCorrelate(xp, gy.transpose(0, 1)); // (C, O, Hp-Ho+1, Wp-Wo+1): every shift
    // dW[o,c,j] = r[c,o,d*j]
    const sub = r.slice(2, 0, null, p.dilation[0]).narrow(2, 0, k[0]).slice(3, 0, null, p.dilation[1]).narrow(3, 0, k[1]);
    return sub.transpose(0, 1).contiguous();
  },
};
