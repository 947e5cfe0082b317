import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { createSubjects } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import { resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';
import { Client } from 'pg';

/** The README's first command, as a process: it must run the sample end to end and say so. */
describe('npm start (the event-store demo)', () => {
  const database = uniqueName('gantry_demo').toLowerCase();
  const namespace = uniqueName('demo');

  afterAll(async () => {
    const { databaseUrl, natsUrl } = resolveServerUrls();
    const admin = new Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    const nc = await connectNats(natsUrl, 'demo-e2e-cleanup');
    await deleteStreams(await jetstreamManager(nc), createSubjects(namespace));
    await nc.close();
  });

  it('records three jobs, follows them on the bus, and rebuilds an identical projection', async () => {
    const child = spawn(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'tools', 'run.js'),
        join(WORKSPACE_ROOT, 'apps', 'demo', 'src', 'main.ts'),
        '--database',
        database,
        '--namespace',
        namespace,
      ],
      { cwd: WORKSPACE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));

    expect({ code, output }).toMatchObject({ code: 0 });
    expect(output).toMatch(/\[bootstrap\] postgres: /);
    expect(
      output.match(new RegExp(`\\[bus\\]  ${namespace}\\.evt\\.demo\\.job\\.`, 'g')),
    ).toHaveLength(7);
    expect(output).toMatch(/'REJECTED'.*'QUOTA_EXCEEDED'/);
    expect(output).toContain('dropped and rebuilt from the store (7 events): identical');
  });
});
