import { parseArgs } from 'node:util';
import { runChaos } from './src/harness';

/**
 * A longer chaos run than CI's, for the note:
 * `node tools/run.js test/chaos/run.ts --jobs 1000 --faults 30 --seed 42`.
 * Exits 1 when a check found something.
 */
const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '500' },
      faults: { type: 'string', default: '24' },
      seed: { type: 'string' },
      agents: { type: 'string', default: '3' },
      'keep-files': { type: 'boolean', default: false },
    },
  });
  const seed = Number(
    values.seed ?? process.env['CHAOS_SEED'] ?? Math.floor(Math.random() * 2 ** 31),
  );
  const report = await runChaos({
    jobs: Number(values.jobs),
    faults: Number(values.faults),
    agents: Number(values.agents),
    seed,
    keepFiles: values['keep-files'],
  });
  return Object.values(report.problems).some((found) => found.length > 0) ? 1 : 0;
};

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
