#!/usr/bin/python3
"""Reference values for test/audio/*.test.ts.

Run with the system interpreter that carries PyTorch 1.13 and torchaudio 0.13.1 (Debian's
python3-torch and python3-torchaudio, the same libtorch Refinery binds):

    /usr/bin/python3 test/audio/gen_fixtures.py

It writes test/audio/fixtures.json and the small files in test/audio/wav/ (committed; the test suite
does not need Python).

Two kinds of reference:
- torchaudio: computed by torchaudio 0.13.1 itself (mu_law_encoding/decoding, Spectrogram with
  center=True and reflect padding, melscale_fbanks with HTK/Slaney scales and norm None/'slaney',
  MelSpectrogram, MFCC, InverseSpectrogram, GriffinLim, resample), and torchaudio.load (sox_io) of the WAV files.
- librosa: librosa is NOT installed on this machine (and cannot be fetched offline), so these
  references are written here in numpy, in float64, following librosa's documented definitions
  (librosa 0.10: mu_compress/mu_expand, stft with center=True and pad_mode='constant' and a periodic
  Hann window, power_to_db/amplitude_to_db with amin and top_db over the whole array, mfcc as an
  orthonormal DCT-II of power_to_db(melspectrogram)) -- NOT by librosa itself. librosa.filters.mel
  builds the same triangles from the same formulas as torchaudio's melscale_fbanks (checked against
  their sources: fftfreqs = linspace(0, sr/2, 1 + n_fft//2), mel points linspace(mel(fmin),
  mel(fmax), n_mels + 2), min(lower, upper) ramps, 'slaney' norm 2 / (f[i+2] - f[i])), transposed.
- GANSynth instantaneous frequency: numpy's np.unwrap along time, np.diff, the first frame's
  unwrapped phase kept, all divided by pi (GANSynth's spectral_ops.instantaneous_frequency).

Inputs come from a fixed numpy seed; float32 values are written with repr() of the float32, so the
TypeScript side rebuilds exactly the same data.
"""
import json
import math
import os

import numpy as np
import torch
import torchaudio
import torchaudio.functional as AF
import torchaudio.transforms as T

torch.set_num_threads(1)
rng = np.random.default_rng(12)

SR = 8000
N_FFT = 128
HOP = 32
LENGTH = 400
N_MELS = 20
N_MFCC = 13


def f32(a):
    # 9 significant digits round-trip a float32 exactly
    return [float('%.9g' % v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def cplx(z):
    z = np.asarray(z)
    return {'shape': list(z.shape), 're': f32(z.real), 'im': f32(z.imag)}


def real(a):
    a = np.asarray(a)
    return {'shape': list(a.shape), 'data': f32(a)}


# a test signal: two partials, a chirp and some noise, in [-1, 1]
t = np.arange(LENGTH) / SR
x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 1250 * t + 0.3)
     + 0.15 * np.sin(2 * np.pi * (200 * t + 2000 * t * t)) + 0.05 * rng.standard_normal(LENGTH))
x = x.astype(np.float32)
xt = torch.from_numpy(x)
out = {'torchaudio': torchaudio.__version__, 'torch': torch.__version__,
       'sampleRate': SR, 'nFft': N_FFT, 'hop': HOP, 'length': LENGTH, 'nMels': N_MELS, 'nMfcc': N_MFCC,
       'signal': f32(x)}

# ---------------------------------------------------------------- mu-law
mu_in = np.concatenate([[-1.0, 1.0, 0.0, -0.0, 1e-4, -1e-4, 0.5, -0.5],
                        rng.uniform(-1, 1, 120), rng.uniform(-0.02, 0.02, 40)]).astype(np.float32)
out['muLawInput'] = f32(mu_in)
out['muLawEncodeTorchaudio'] = [int(v) for v in AF.mu_law_encoding(torch.from_numpy(mu_in), 256)]
out['muLawDecodeTorchaudio'] = f32(AF.mu_law_decoding(torch.arange(256), 256).numpy())
# torchaudio with 16 channels (mu = 15)
out['muLawEncodeTorchaudio16'] = [int(v) for v in AF.mu_law_encoding(torch.from_numpy(mu_in), 16)]


def librosa_mu_compress(v, mu=255, quantize=True):
    # librosa.mu_compress (0.10): x_comp = sign(x) log1p(mu |x|) / log1p(mu);
    # quantize: np.digitize(x_comp, np.linspace(-1, 1, num=int(1 + mu), endpoint=True), right=True) - int(mu + 1) // 2
    v = np.asarray(v, dtype=np.float64)
    c = np.sign(v) * np.log1p(mu * np.abs(v)) / np.log1p(mu)
    if quantize:
        return np.digitize(c, np.linspace(-1, 1, num=int(1 + mu), endpoint=True), right=True) - int(mu + 1) // 2
    return c


def librosa_mu_expand(v, mu=255, quantize=True):
    # librosa.mu_expand (0.10): if quantize: x = x * 2 / (1 + mu); sign(x) / mu * ((1 + mu) ** |x| - 1)
    v = np.asarray(v, dtype=np.float64)
    if quantize:
        v = v * 2.0 / (1 + mu)
    return np.sign(v) / mu * (np.power(1 + mu, np.abs(v)) - 1)


out['muCompressLibrosa'] = [int(v) for v in librosa_mu_compress(mu_in.astype(np.float64))]
out['muCompressLibrosaContinuous'] = f32(librosa_mu_compress(mu_in.astype(np.float64), quantize=False))
out['muExpandLibrosa'] = f32(librosa_mu_expand(np.arange(-128, 128)))

# ---------------------------------------------------------------- STFT
window = torch.hann_window(N_FFT)  # periodic
spec_ta = T.Spectrogram(n_fft=N_FFT, hop_length=HOP, power=None)(xt)  # center=True, pad_mode='reflect'
out['stftTorchaudio'] = cplx(spec_ta.numpy())
# win_length < n_fft: torchaudio centres the window inside n_fft (as librosa does)
spec_ta_w = T.Spectrogram(n_fft=N_FFT, win_length=96, hop_length=HOP, power=None)(xt)
out['stftTorchaudioWin96'] = cplx(spec_ta_w.numpy())


def librosa_stft(v, n_fft, hop):
    # librosa.stft (0.10) defaults: center=True, pad_mode='constant' (zeros), window='hann' from
    # scipy.signal.get_window(..., fftbins=True): periodic 0.5 - 0.5 cos(2 pi n / n_fft).
    v = np.asarray(v, dtype=np.float64)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    p = np.pad(v, (n_fft // 2, n_fft // 2), mode='constant')
    n_frames = 1 + (len(p) - n_fft) // hop
    frames = np.stack([p[i * hop:i * hop + n_fft] * w for i in range(n_frames)], axis=1)
    return np.fft.rfft(frames, axis=0)


spec_lr = librosa_stft(x, N_FFT, HOP)
out['stftLibrosa'] = cplx(spec_lr)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    # librosa.power_to_db: 10 log10(max(amin, S)) - 10 log10(max(amin, ref)), then max(., max - top_db)
    log_spec = 10.0 * np.log10(np.maximum(amin, S)) - 10.0 * np.log10(np.maximum(amin, ref))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def amplitude_to_db(S, ref=1.0, amin=1e-5, top_db=80.0):
    # librosa.amplitude_to_db: power_to_db(S**2, ref=ref**2, amin=amin**2, top_db)
    return power_to_db(np.abs(S) ** 2, ref=ref ** 2, amin=amin ** 2, top_db=top_db)


out['amplitudeToDbLibrosa'] = real(amplitude_to_db(np.abs(spec_lr)))
out['amplitudeToDbLibrosaTop40'] = real(amplitude_to_db(np.abs(spec_lr), ref=2.0, amin=1e-3, top_db=40.0))

# ---------------------------------------------------------------- mel filterbanks (torchaudio layout: [n_freqs, n_mels])
n_freqs = N_FFT // 2 + 1
fb = {}
for scale in ['htk', 'slaney']:
    for norm in [None, 'slaney']:
        for (fmin, fmax) in [(0.0, SR / 2)] + ([(50.0, 3800.0)] if (scale, norm) in [('htk', None), ('slaney', 'slaney')] else []):
            key = f'{scale}_{norm or "none"}_{int(fmin)}_{int(fmax)}'
            m = AF.melscale_fbanks(n_freqs, fmin, fmax, N_MELS, SR, norm, scale)
            fb[key] = real(m.numpy())
out['melFbanks'] = fb

# ---------------------------------------------------------------- mel spectrogram and MFCC (torchaudio)
mel_ta = T.MelSpectrogram(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)(xt)  # power 2, htk, norm None, reflect
out['melSpectrogramTorchaudio'] = real(mel_ta.numpy())
mfcc_ta = T.MFCC(sample_rate=SR, n_mfcc=N_MFCC, melkwargs={'n_fft': N_FFT, 'hop_length': HOP, 'n_mels': N_MELS})(xt)
out['mfccTorchaudio'] = real(mfcc_ta.numpy())


# librosa-style MFCC, numpy: melspectrogram (power 2, constant padding, slaney scale + slaney norm),
# power_to_db(ref=1, amin=1e-10, top_db=80), scipy.fft.dct(type=2, norm='ortho') along mels
def dct2_ortho(a, axis):
    # scipy.fft.dct type 2, norm='ortho': y[k] = f_k * 2 sum_n x[n] cos(pi k (2n+1) / (2N)),
    # f_0 = sqrt(1/(4N)), f_k = sqrt(1/(2N))
    a = np.moveaxis(a, axis, 0)
    N = a.shape[0]
    n = np.arange(N)
    k = np.arange(N)[:, None]
    M = 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * N))
    M[0] *= math.sqrt(1 / (4 * N))
    M[1:] *= math.sqrt(1 / (2 * N))
    return np.moveaxis(M @ a, 0, axis)


fb_slaney = AF.melscale_fbanks(n_freqs, 0.0, SR / 2, N_MELS, SR, 'slaney', 'slaney').numpy().astype(np.float64).T
mel_lr = fb_slaney @ (np.abs(spec_lr) ** 2)
out['melSpectrogramLibrosa'] = real(mel_lr)
out['mfccLibrosa'] = real(dct2_ortho(power_to_db(mel_lr), 0)[:N_MFCC])

# ---------------------------------------------------------------- ISTFT (torchaudio), on a spectrogram with perturbed phase
# The input is rebuilt on the TypeScript side from the stored stftTorchaudio values (float32) and the
# phase offset theta[f, t] = 0.3 sin(0.7 f + 1.3 t), in float64, then rounded to complex64.
spec_stored = np.array(out['stftTorchaudio']['re'], np.float32).astype(np.float64) \
    + 1j * np.array(out['stftTorchaudio']['im'], np.float32).astype(np.float64)
spec_stored = spec_stored.reshape(out['stftTorchaudio']['shape'])
F_, T_ = spec_stored.shape
theta = 0.3 * np.sin(0.7 * np.arange(F_)[:, None] + 1.3 * np.arange(T_)[None, :])
spec_p = (spec_stored * np.exp(1j * theta)).astype(np.complex64)
out['istftTorchaudio'] = f32(T.InverseSpectrogram(n_fft=N_FFT, hop_length=HOP)(torch.from_numpy(spec_p), LENGTH).numpy())

# ---------------------------------------------------------------- instantaneous frequency (GANSynth), numpy
# phase = atan2 of the stored stftTorchaudio values (float64, rounded to float32; rebuilt likewise in TypeScript)
phase = np.arctan2(spec_stored.imag, spec_stored.real).astype(np.float32)
unwrapped = np.unwrap(phase.astype(np.float64), axis=-1)
IF = np.concatenate([unwrapped[..., :1], np.diff(unwrapped, axis=-1)], axis=-1) / np.pi
out['instantaneousFrequency'] = real(IF)

# ---------------------------------------------------------------- Griffin-Lim (torchaudio), deterministic init (ones)
gl_iters = 8
gl = T.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=gl_iters, momentum=0.99, rand_init=False, length=LENGTH, power=2.0)
power_spec = (spec_ta.abs() ** 2)
out['griffinLimIters'] = gl_iters
out['griffinLimTorchaudio'] = f32(gl(power_spec).numpy())
gl0 = T.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=gl_iters, momentum=0.0, rand_init=False, length=LENGTH, power=2.0)
out['griffinLimTorchaudioNoMomentum'] = f32(gl0(power_spec).numpy())

# ---------------------------------------------------------------- resampling (torchaudio.functional.resample, sinc_interpolation)
rs = {}
for (o, n, lw, ro) in [(8000, 16000, 6, 0.99), (16000, 8000, 6, 0.99), (8000, 11025, 6, 0.99), (8000, 6000, 16, 0.9)]:
    rs[f'{o}_{n}_{lw}_{ro}'] = f32(AF.resample(xt[:200], o, n, lowpass_filter_width=lw, rolloff=ro).numpy())  # the first 200 samples
out['resample'] = rs

# ---------------------------------------------------------------- WAV files (test/audio/wav/), read back by torchaudio.load (sox_io)
# PCM 8/16/24/32-bit written by Python's wave module; float32, WAVE_FORMAT_EXTENSIBLE and an odd-sized
# LIST chunk before the data written by hand with struct. The expected samples are torchaudio.load's
# (normalize=True, float32 [channels, frames]).
import struct
import wave

wav_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'wav')
os.makedirs(wav_dir, exist_ok=True)
FR = 24


def pcm_values(bits, channels):
    full = 2 ** (bits - 1)
    v = np.concatenate([[-full, full - 1, 0, 1, -1], rng.integers(-full, full, FR * channels - 5)])
    return v.reshape(FR, channels)


def pcm_bytes(v, bits):
    if bits == 8:
        return bytes((v + 128).astype(np.uint8).reshape(-1))
    return b''.join(int(s).to_bytes(bits // 8, 'little', signed=True) for s in v.reshape(-1))


def riff(fmt_chunk, data, extra=b''):
    body = b'WAVE' + fmt_chunk + extra + b'data' + struct.pack('<I', len(data)) + data + (b'\0' if len(data) % 2 else b'')
    return b'RIFF' + struct.pack('<I', len(body)) + body


wavs = {}
for bits in [8, 16, 24, 32]:
    for channels in [1, 2]:
        name = f'pcm{bits}_{channels}ch.wav'
        with wave.open(os.path.join(wav_dir, name), 'wb') as w:
            w.setnchannels(channels)
            w.setsampwidth(bits // 8)
            w.setframerate(16000)
            w.writeframes(pcm_bytes(pcm_values(bits, channels), bits))
# float32 stereo with an odd-sized LIST chunk (padded) before the data
fv = rng.uniform(-1, 1, (FR, 2)).astype(np.float32)
fv[0] = [1.0, -1.0]
fmt_float = b'fmt ' + struct.pack('<IHHIIHH', 16, 3, 2, 22050, 22050 * 8, 8, 32)
list_chunk = b'LIST' + struct.pack('<I', 5) + b'INFOx' + b'\0'
with open(os.path.join(wav_dir, 'float32_2ch_list.wav'), 'wb') as f:
    f.write(riff(fmt_float, fv.astype('<f4').tobytes(), list_chunk))
# WAVE_FORMAT_EXTENSIBLE, 16-bit PCM subformat, mono
ev = pcm_values(16, 1)
guid_pcm = struct.pack('<HHI', 1, 0, 0x00100000) + bytes([0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71])
fmt_ext = b'fmt ' + struct.pack('<IHHIIHHHHI', 40, 0xFFFE, 1, 8000, 16000, 2, 16, 22, 16, 4) + guid_pcm
with open(os.path.join(wav_dir, 'extensible16_1ch.wav'), 'wb') as f:
    f.write(riff(fmt_ext, pcm_bytes(ev, 16)))
for name in sorted(os.listdir(wav_dir)):
    y, sr = torchaudio.load(os.path.join(wav_dir, name))
    wavs[name] = {'sampleRate': sr, 'samples': real(y.numpy())}
out['wav'] = wavs

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures.json')
with open(path, 'w') as f:
    json.dump(out, f, separators=(',', ':'))
print(path, os.path.getsize(path), 'bytes')
