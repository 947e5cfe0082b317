#!/usr/bin/env node
// The README's test command. It makes sure Postgres and NATS are reachable (reusing running
// servers or starting local ones), runs every project's unit, integration and end-to-end tiers
// through Nx, and closes with one line of totals.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const results = path.join(root, 'tmp', 'test-results.jsonl');
fs.rmSync(results, { force: true });

const run = (cmd, args, env = {}) =>
  spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } }).status ??
  1;

const boot = run(process.execPath, ['tools/run.js', 'libs/bootstrap/src/cli.ts', 'ensure']);
if (boot !== 0) process.exit(boot);

const extra = process.argv.slice(2);
const status = run(
  process.execPath,
  [
    require.resolve('nx/bin/nx'),
    'run-many',
    '-t',
    'test',
    'int-test',
    'e2e-test',
    '--skip-nx-cache',
    '--parallel=1',
    '--outputStyle=stream',
    ...extra,
  ],
  { GANTRY_TEST_RESULTS: results },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (fs.existsSync(results)) {
  for (const line of fs.readFileSync(results, 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line);
    passed += r.passed;
    failed += r.failed;
    skipped += r.skipped;
  }
}
if (status !== 0 && failed === 0) failed = 1; // a tier that crashed before reporting still fails
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(status === 0 && failed === 0 ? 0 : 1);
