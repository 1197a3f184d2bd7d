#!/usr/bin/env node
// refinery <command> [flags]: the command-line entry point. Each command is a set of flag
// definitions (src/cli/flags.ts) and one library call; the help of every command is generated from
// its definitions. A bad command line is one line on stderr and exit code 2; a failure while
// running is one line and exit code 1 (REFINERY_DEBUG=1 prints the stack too).
import './load_addon'; // first: a bad REFINERY_NUM_THREADS is one line, not a stack trace
import { Command, runCommand } from './flags';
import { demoCommand } from './demo';
import { evalClassifierCommand, trainClassifierCommand } from './classifier';
import { evalDiffusionCommand, sampleCommand, trainDiffusionCommand } from './diffusion';
import { trainNoisyClassifierCommand } from './noisy_classifier';
import { oodCommand, typicalityCommand } from './typicality';
import { exportCommand, importCommand } from './export';
import { serveCommand } from './serve';
import { evalAudioCommand, generateAudioCommand, trainDiffwaveCommand, trainWavenetCommand, vocodeCommand } from './audio';
import { ensembleCommand, evalRotnetCommand, trainRotnetCommand } from './rotnet';
import { evalTextCommand, sampleTextCommand, trainTextCommand } from './text';
import { convCacheCommand } from './conv';
import { launchCommand } from './launch';

/** Every command, in the order of the help. */
export const COMMANDS: Command[] = [
  demoCommand, trainClassifierCommand, evalClassifierCommand, trainDiffusionCommand, sampleCommand, evalDiffusionCommand,
  trainNoisyClassifierCommand, typicalityCommand, oodCommand, exportCommand, importCommand, serveCommand,
  trainWavenetCommand, trainDiffwaveCommand, generateAudioCommand, vocodeCommand, evalAudioCommand,
  trainRotnetCommand, evalRotnetCommand, ensembleCommand,
  trainTextCommand, sampleTextCommand, evalTextCommand, convCacheCommand,
  launchCommand,
] as unknown as Command[];

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return `usage: refinery <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Run \`refinery <command> --help\` for the options of a command.
`;
}

/** The command named by the first words of `argv` (the longest match), and the remaining words. */
function findCommand(argv: string[]): { cmd: Command; rest: string[] } | null {
  let best: { cmd: Command; rest: string[] } | null = null;
  for (const cmd of COMMANDS) {
    const words = cmd.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.cmd.name.split(' ').length)) best = { cmd, rest: argv.slice(words.length) };
  }
  return best;
}

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(usage());
    return first === undefined ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const targets = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name.split(' ')[1]);
    const msg = targets.length
      ? `refinery ${first}: ${argv[1] === undefined ? 'expected a target' : `unknown target ${JSON.stringify(argv[1])}`}; valid: ${targets.join(', ')}`
      : `refinery: unknown command ${JSON.stringify(first)}; valid: ${[...new Set(COMMANDS.map((c) => c.name.split(' ')[0]))].join(', ')} (refinery --help lists them)`;
    process.stderr.write(`${msg}\n`);
    return 2;
  }
  return runCommand(found.cmd, found.rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`refinery: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
