// Appends each Jest run's totals to tmp/test-results.jsonl so that tools/test-all.js can print
// one closing line for every project and tier that ran.
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const file = process.env.GANTRY_TEST_RESULTS;
    if (!file) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const line = {
      project: this.rootDir,
      passed: results.numPassedTests,
      failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
      skipped: results.numPendingTests + results.numTodoTests,
    };
    fs.appendFileSync(file, JSON.stringify(line) + '\n');
  }
}
module.exports = SummaryReporter;
