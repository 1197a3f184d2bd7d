// refinery train wavenet / generate audio: flags and printing over trainWavenet and generateNotes (src/audio).
import { DEFAULT_DIFFWAVE_TRAIN, DEFAULT_WAVENET_TRAIN, MINI_NSYNTH_INSTRUMENTS, WAVENET_KIND, generateNotes, trainDiffWave, trainWavenet, vocodeFile, audioExperiments, AUDIO_CLASSIFIER_KIND, DIFFWAVE_CHECKPOINT } from '../audio';
import { MAX_MINUTES, UsageError, bool, choice, command, file, int, num, outFile, resumeFlag, runName, runsDirFlag, seedFlag, str } from './flags';
import { shippedFile } from '../train/shipped';

const d = DEFAULT_WAVENET_TRAIN;

export const trainWavenetCommand = command({
  name: 'train wavenet',
  summary: 'train a pitch- and instrument-conditioned WaveNet on mini-NSynth; generated notes and a report in runs/NAME',
  description: `Renders mini-NSynth once (fluidsynth, about a minute; cached), trains for at most --max-minutes
(Ctrl-C saves a checkpoint; --resume continues it), then generates notes with the cached sampler
next to real notes of the same pitch and instrument in runs/NAME/index.html (players, waveforms,
log-mel spectrograms).`,
  flags: {
    'max-minutes': num({ description: 'stop training after this many minutes, then save and generate', default: 20, above: 0, max: MAX_MINUTES, valueName: 'M' }),
    steps: int({ description: 'stop after this many optimizer steps (default: only the time limit)', min: 1, max: 10_000_000 }),
    layers: int({ description: 'layers per stack (dilations 1 .. 2^(layers-1))', default: d.model.layers, min: 1, max: 16 }),
    stacks: int({ description: 'stacks of the dilation cycle', default: d.model.stacks, min: 1, max: 16 }),
    'residual-channels': int({ description: 'residual channels', default: d.model.residualChannels, min: 1, max: 1024 }),
    'gate-channels': int({ description: 'gate channels (tanh and sigmoid halves)', default: d.model.gateChannels, min: 2, max: 2048, check: (v) => v % 2 === 0, expected: 'an even integer in [2, 2048]' }),
    'skip-channels': int({ description: 'skip channels', default: d.model.skipChannels, min: 1, max: 2048 }),
    'batch-size': int({ description: 'crops per step', default: d.batchSize, min: 1, max: 256 }),
    crop: int({ description: 'samples per training crop (at least the receptive field)', default: d.cropLength, min: 2, max: 1 << 18 }),
    lr: num({ description: 'peak learning rate (warmup, then constant)', default: d.lr, above: 0, max: 1 }),
    ema: num({ description: 'EMA decay of the weights', default: d.emaDecay, min: 0, below: 1 }),
    'eval-every': int({ description: 'validation bits/sample and a checkpoint every this many steps', default: 200, min: 1, max: 10_000_000 }),
    'sample-seconds': num({ description: 'length of each generated note in the report', default: 1, above: 0, max: 10 }),
    conditioning: choice({ description: 'labels: notes from pitch and instrument; mel: a vocoder (audio from its mel spectrogram; notes and espeak-ng speech)', choices: ['labels', 'mel'] as const, default: 'labels' }),
    seed: seedFlag(),
    name: runName('run folder name (default wavenet, or vocoder with --conditioning mel)', 'wavenet'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the EMA weights (default runs/NAME/wavenet.safetensors)', ext: '.safetensors' }),
  },
  async run(f, given) {
    const name = given.has('name') || f.conditioning === 'labels' ? f.name : 'vocoder';
    const r = await trainWavenet({
      config: {
        batchSize: f['batch-size'], cropLength: f.crop, lr: f.lr, emaDecay: f.ema, seed: f.seed, conditioning: f.conditioning,
        model: { layers: f.layers, stacks: f.stacks, residualChannels: f['residual-channels'], gateChannels: f['gate-channels'], skipChannels: f['skip-channels'] },
      },
      maxMinutes: f['max-minutes'], maxSteps: f.steps, evalEvery: f['eval-every'], sampleSeconds: f['sample-seconds'],
      name, runsDir: f['runs-dir'], resume: f.resume, out: f.out, log: (m) => console.log(`refinery ${m}`),
    });
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume --name ${name} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    return 0;
  },
});

export const vocodeCommand = command({
  name: 'vocode',
  summary: 'resynthesise a WAV file from its mel spectrogram with the WaveNet vocoder (or Griffin-Lim)',
  description: `Reads IN (any PCM or float WAV; channels are averaged), computes its 80-band log-mel spectrogram
(1024-point frames, hop 256, librosa's conventions) and generates audio from it with the mel-conditioned
WaveNet (cached sampler) or with Griffin-Lim from the same mel; prints the speed and the log-spectral
distance and spectral convergence to the input. The shipped vocoder works at 16 kHz: other rates are
refused unless --resample.`,
  positionals: [{ name: 'IN', description: 'the WAV file to vocode' }],
  flags: {
    out: outFile({ description: 'output WAV file', ext: '.wav', default: 'vocoded.wav' }),
    method: choice({ description: 'wavenet (the mel-conditioned WaveNet) or griffin-lim (from the same mel)', choices: ['wavenet', 'griffin-lim'] as const, default: 'wavenet' }),
    checkpoint: file({ description: 'vocoder checkpoint (default: the shipped checkpoints/wavenet-vocoder.safetensors)', checkpoint: WAVENET_KIND }),
    resample: bool({ description: 'resample input at another sample rate to the vocoder\'s (default: refuse it)' }),
    temperature: num({ description: 'softmax temperature of the WaveNet (0: greedy)', default: 1, min: 0, max: 100 }),
    iterations: int({ description: 'Griffin-Lim iterations', default: 100, min: 1, max: 10_000 }),
    seed: seedFlag(),
  },
  run(f, _given, args) {
    const r = vocodeFile(args[0], { out: f.out, method: f.method, checkpoint: f.checkpoint, resample: f.resample, temperature: f.temperature, iterations: f.iterations, seed: f.seed });
    console.log(`wrote ${f.out}: ${(r.samples / r.sampleRate).toFixed(2)} s at ${r.sampleRate} Hz in ${r.seconds.toFixed(1)} s (${Math.round(r.samplesPerSecond).toLocaleString('en-US')} samples/s, ${f.method}); `
      + `log-spectral distance ${r.logSpectralDistance.toFixed(2)} dB, spectral convergence ${r.spectralConvergence.toFixed(3)} against the input`);
    return 0;
  },
});

export const generateAudioCommand = command({
  name: 'generate audio',
  summary: 'generate notes of one pitch and instrument with the note WaveNet or the waveform diffusion model (WAV files)',
  description: `Instruments of the shipped models: ${MINI_NSYNTH_INSTRUMENTS.map((n, i) => `${i} ${n}`).join(', ')}.`,
  flags: {
    model: choice({ description: 'wavenet (autoregressive, cached sampler) or diffwave (waveform diffusion, Heun)', choices: ['wavenet', 'diffwave'] as const, default: 'wavenet' }),
    checkpoint: file({ description: 'checkpoint (default: the shipped checkpoints/wavenet-nsynth.safetensors or diffwave-nsynth.safetensors)' }),
    pitch: int({ description: 'MIDI pitch (60 is middle C; the shipped models saw 36..84)', default: 60, min: 0, max: 127 }),
    instrument: int({ description: 'instrument index (see above)', default: 0, min: 0, max: 127 }),
    seconds: num({ description: 'length of each note', default: 1, above: 0, max: 60 }),
    count: int({ description: 'notes to generate (out-1.wav, out-2.wav, ... when more than one)', default: 1, min: 1, max: 64 }),
    temperature: num({ description: 'softmax temperature of the WaveNet (0: greedy)', default: 1, min: 0, max: 100 }),
    method: choice({ description: 'WaveNet: cached (fast-wavenet queues, O(layers) per sample) or naive (recompute the receptive field)', choices: ['cached', 'naive'] as const, default: 'cached' }),
    steps: int({ description: 'DiffWave: Heun steps', default: 12, min: 1, max: 1000 }),
    guidance: num({ description: 'DiffWave: classifier-free guidance scale', default: 2, min: 0, max: 100 }),
    seed: seedFlag(),
    out: outFile({ description: 'output WAV file', ext: '.wav', default: 'note.wav' }),
  },
  run(f) {
    const r = generateNotes({ model: f.model, checkpoint: f.checkpoint, pitch: f.pitch, instrument: f.instrument, seconds: f.seconds, count: f.count, temperature: f.temperature, method: f.method, steps: f.steps, guidance: f.guidance, seed: f.seed, out: f.out });
    console.log(`wrote ${r.files.join(', ')} (${r.seconds.toFixed(1)} s, ${Math.round(r.samplesPerSecond).toLocaleString('en-US')} samples/s, ${f.model === 'wavenet' ? f.method : `Heun ${f.steps} steps, guidance ${f.guidance}`})`);
    return 0;
  },
});

const dd = DEFAULT_DIFFWAVE_TRAIN;

export const trainDiffwaveCommand = command({
  name: 'train diffwave',
  summary: 'train the DiffWave-style waveform diffusion model on mini-NSynth notes; sampled notes and a report in runs/NAME',
  description: `Whole one-second notes, pitch and instrument labels with conditioning dropout, src/diffusion's EDM
loss (σ_data measured from the notes); at most --max-minutes (Ctrl-C saves a checkpoint; --resume
continues it), then notes sampled with Heun and classifier-free guidance next to real ones in
runs/NAME/index.html, with their pitch accuracy (YIN).`,
  flags: {
    'max-minutes': num({ description: 'stop training after this many minutes, then save and sample', default: 20, above: 0, max: MAX_MINUTES, valueName: 'M' }),
    steps: int({ description: 'stop after this many optimizer steps (default: only the time limit)', min: 1, max: 10_000_000 }),
    layers: int({ description: 'residual layers', default: dd.model.layers, min: 1, max: 64 }),
    cycle: int({ description: 'dilation cycle (1 .. 2^(cycle-1))', default: dd.model.cycle, min: 1, max: 16 }),
    'residual-channels': int({ description: 'residual channels', default: dd.model.residualChannels, min: 1, max: 1024 }),
    'batch-size': int({ description: 'notes per step', default: dd.batchSize, min: 1, max: 256 }),
    lr: num({ description: 'peak learning rate (warmup, then constant)', default: dd.lr, above: 0, max: 1 }),
    ema: num({ description: 'EMA decay of the weights', default: dd.emaDecay, min: 0, below: 1 }),
    'cond-drop': num({ description: 'probability of dropping the labels (classifier-free guidance)', default: dd.condDrop, min: 0, max: 1, valueName: 'P' }),
    'eval-every': int({ description: 'validation losses and a checkpoint every this many steps', default: 200, min: 1, max: 10_000_000 }),
    'sample-steps': int({ description: 'Heun steps of the report\'s notes', default: 12, min: 1, max: 1000 }),
    guidance: num({ description: 'guidance scale of the report\'s notes', default: 2, min: 0, max: 100 }),
    seed: seedFlag(),
    name: runName('run folder name', 'diffwave'),
    'runs-dir': runsDirFlag(),
    resume: resumeFlag(),
    out: outFile({ description: 'where to write the EMA weights (default runs/NAME/diffwave.safetensors)', ext: '.safetensors' }),
  },
  async run(f) {
    const r = await trainDiffWave({
      config: {
        batchSize: f['batch-size'], lr: f.lr, emaDecay: f.ema, condDrop: f['cond-drop'], seed: f.seed,
        model: { layers: f.layers, cycle: f.cycle, residualChannels: f['residual-channels'] },
      },
      maxMinutes: f['max-minutes'], maxSteps: f.steps, evalEvery: f['eval-every'], sampleSteps: f['sample-steps'], guidance: f.guidance,
      name: f.name, runsDir: f['runs-dir'], resume: f.resume, out: f.out, log: (m) => console.log(`refinery ${m}`),
    });
    if (r.status === 'interrupted') {
      console.log(`interrupted at step ${r.step}; resume with --resume --name ${f.name} (checkpoint ${r.checkpoint})`);
      return 130;
    }
    return 0;
  },
});

export const evalAudioCommand = command({
  name: 'eval audio',
  summary: 'the audio experiments on held-out notes and speech: Griffin-Lim convergence, vocoding, WaveNet vs waveform diffusion',
  description: `Griffin-Lim's spectral convergence against iterations with and without momentum; the mel vocoder
against Griffin-Lim from the same mel (log-spectral distance, spectral convergence, time); notes generated
by the WaveNet and the diffusion model for the same test labels (pitch accuracy by YIN, the instrument
judge's accuracy and classifier-FD, time per second of audio, WaveNet test NLL). Writes WAVs, pictures,
tables.md, results.json and index.html to --out-dir.`,
  flags: {
    wavenet: file({ description: 'note WaveNet checkpoint (default: the shipped one)', checkpoint: WAVENET_KIND }),
    diffwave: file({ description: 'DiffWave checkpoint (default: the shipped checkpoints/diffwave-nsynth.safetensors)', checkpoint: 'diffwave' }),
    vocoder: file({ description: 'mel vocoder checkpoint (default: the shipped one)', checkpoint: WAVENET_KIND }),
    classifier: file({ description: 'instrument judge (default: the shipped checkpoints/instrument-classifier.safetensors)', checkpoint: AUDIO_CLASSIFIER_KIND }),
    notes: int({ description: 'test notes generated by each model', default: 30, min: 2, max: 200 }),
    clips: int({ description: 'test clips of each kind (notes, speech) for vocoding and Griffin-Lim', default: 8, min: 1, max: 50 }),
    'diffwave-steps': str({ description: 'Heun steps of the diffusion rows, comma-separated', default: '6,12,25' }),
    guidance: num({ description: 'guidance scale of the diffusion model', default: 2, min: 0, max: 100 }),
    only: choice({ description: 'run one part only', choices: ['all', 'griffin-lim', 'vocoding', 'generation'] as const, default: 'all' }),
    'out-dir': str({ description: 'where the report, WAVs and tables go', default: 'runs/audio-experiments' }),
  },
  async run(f) {
    const steps = f['diffwave-steps'].split(',').map((s) => Number(s.trim()));
    if (steps.some((s) => !Number.isInteger(s) || s < 1 || s > 1000)) throw new UsageError(`--diffwave-steps: expected comma-separated integers in 1..1000, got ${JSON.stringify(f['diffwave-steps'])}`);
    const r = await audioExperiments({
      wavenet: f.wavenet, diffwave: f.diffwave ?? shippedFile(DIFFWAVE_CHECKPOINT), vocoder: f.vocoder, classifier: f.classifier, notes: f.notes, clips: f.clips,
      diffwaveSteps: steps, guidance: f.guidance, outDir: f['out-dir'], parts: f.only === 'all' ? undefined : [f.only], log: () => {},
    });
    console.log(r.markdown);
    console.log(`\nreport: ${f['out-dir']}/index.html`);
    return 0;
  },
});
