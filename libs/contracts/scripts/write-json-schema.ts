import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobSpecJsonSchema } from '../src';

/** Regenerates docs/schemas/job-spec.schema.json; a unit test fails when it is stale. */
export const JOB_SPEC_SCHEMA_FILE = join(
  __dirname,
  '..',
  '..',
  '..',
  'docs',
  'schemas',
  'job-spec.schema.json',
);
export const renderJobSpecSchema = (): string =>
  JSON.stringify(jobSpecJsonSchema(), null, 2) + '\n';

// Run directly (`node tools/run.js …` sets argv[1] to this file), not when imported by the test.
if (process.argv[1] === __filename) {
  writeFileSync(JOB_SPEC_SCHEMA_FILE, renderJobSpecSchema());
  console.log(`wrote ${JOB_SPEC_SCHEMA_FILE}`);
}
