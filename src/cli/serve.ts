// refinery serve: flags and printing over startStudio (src/serve).
import { DEFAULT_HOST, DEFAULT_PORT, isLoopback, startStudio } from '../serve/server';
import { command, int, runsDirFlag, str } from './flags';

export const serveCommand = command({
  name: 'serve',
  summary: 'Refinery Studio: a local web app to sample, watch runs and explore typicality (prints its URL)',
  description: `Serves the web app, the run folders of --runs-dir and a JSON/event-stream API on one port.
It binds 127.0.0.1: only this machine can reach it. --host 0.0.0.0 (or another address)
exposes it to the network, with no authentication: anyone who reaches it can start
sampling jobs and read the runs folder. Ctrl-C stops it.`,
  flags: {
    port: int({ description: 'TCP port (0: any free port)', default: DEFAULT_PORT, min: 0, max: 65535, expected: 'a port number in [0, 65535]' }),
    host: str({ description: 'address to bind', default: DEFAULT_HOST, valueName: 'ADDR' }),
    'runs-dir': runsDirFlag(),
  },
  async run(f) {
    if (!isLoopback(f.host)) {
      process.stderr.write(`refinery serve: WARNING: --host ${f.host} exposes the studio beyond this machine, without authentication: anyone who can reach ${f.host}:${f.port} can run jobs on it and read ${f['runs-dir']}/\n`);
    }
    const studio = await startStudio({ port: f.port, host: f.host, runsDir: f['runs-dir'] });
    console.log(`Refinery Studio: ${studio.url} (runs folder ${f['runs-dir']}; Ctrl-C stops it)`);
    await new Promise<void>((resolve) => {
      const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await studio.close();
    return 0;
  },
});
