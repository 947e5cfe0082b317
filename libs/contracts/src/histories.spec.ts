import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventRegistry } from './index';

/**
 * Recorded histories (test/histories/*.json) are replayed through today's upcasters on every CI
 * run: a schema change that can no longer read what production already stored fails here.
 */
const dir = join(__dirname, '..', '..', '..', 'test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('recorded histories', () => {
  it('exist', () => expect(files.length).toBeGreaterThan(0));

  it.each(files)('%s still reads, in order, at current versions', (file) => {
    const history = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown[];
    const events = history.map((raw) => eventRegistry.parseEvent(raw));
    events.forEach((e, i) => {
      expect(e.schemaVersion).toBe(eventRegistry.currentVersion(e.type));
      expect(e.metadata.streamVersion).toBe(i + 1);
    });
  });
});
