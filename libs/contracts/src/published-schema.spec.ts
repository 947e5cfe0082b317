import { readFileSync } from 'node:fs';
import { JOB_SPEC_SCHEMA_FILE, renderJobSpecSchema } from '../scripts/write-json-schema';

it('the published job spec JSON Schema is up to date (node tools/run.js libs/contracts/scripts/write-json-schema.ts)', () => {
  expect(readFileSync(JOB_SPEC_SCHEMA_FILE, 'utf8')).toBe(renderJobSpecSchema());
});
