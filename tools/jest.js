#!/usr/bin/env node
// Runs one tier of one project's tests: `node tools/jest.js unit|int|e2e <projectRoot>`.
// Tiers by suffix (see CONVENTIONS.md): *.spec.ts pure, *.int-spec.ts real servers, *.e2e-spec.ts processes.
const path = require('node:path');
const { runCLI } = require('jest');
const swc = require('./swc-options');

const tiers = {
  unit: { match: '**/*.spec.ts', timeout: 10_000, workers: '50%' },
  int: { match: '**/*.int-spec.ts', timeout: 120_000, workers: 2 },
  e2e: { match: '**/*.e2e-spec.ts', timeout: 300_000, workers: 1 },
};

async function main() {
  const [tierName, projectRoot, ...rest] = process.argv.slice(2);
  const tier = tiers[tierName];
  if (!tier || !projectRoot) {
    console.error('usage: node tools/jest.js unit|int|e2e <projectRoot> [jest args]');
    process.exit(2);
  }
  const workspaceRoot = path.resolve(__dirname, '..');
  const rootDir = path.resolve(workspaceRoot, projectRoot);
  const config = {
    rootDir,
    testEnvironment: 'node',
    testMatch: [`<rootDir>/${tier.match}`],
    testPathIgnorePatterns: ['/node_modules/'],
    transform: { '^.+\\.[tj]s$': ['@swc/jest', { ...swc, swcrc: false }] },
    // Nest 12 ships only ES modules, which Jest's CommonJS runtime on Node 20 cannot require():
    // compile them to CommonJS like our own code.
    transformIgnorePatterns: ['/node_modules/(?!@nestjs/)'],
    moduleFileExtensions: ['ts', 'js', 'json'],
    testTimeout: tier.timeout,
    maxWorkers: tier.workers,
    reporters: ['default', path.join(__dirname, 'jest-summary-reporter.js')],
    passWithNoTests: true,
  };
  const argv = { config: JSON.stringify(config), _: rest, $0: 'jest' };
  if (process.env.CI) argv.ci = true;
  const { results } = await runCLI(argv, [rootDir]);
  process.exit(results.success ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
