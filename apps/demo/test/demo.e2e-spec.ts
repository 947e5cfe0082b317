import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { createSubjects } from '@gantry/contracts';
import { connectNats, deleteStreams } from '@gantry/messaging';
import { resolveServerUrls, uniqueName, WORKSPACE_ROOT } from '@gantry/testing';
import { Client } from 'pg';

/** The README's first command, as a process: the whole platform runs a 2-node job to the end. */
describe('npm start', () => {
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

  it('starts every service and two agents, and runs the sample 2-node job to SUCCEEDED with its logs', async () => {
    const child = spawn(
      process.execPath,
      [
        join(WORKSPACE_ROOT, 'tools', 'run.js'),
        join(WORKSPACE_ROOT, 'apps', 'demo', 'src', 'main.ts'),
        '--exit',
        '--port',
        '0',
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
    expect(output).toMatch(/submitted 2-node job [0-9a-f-]+: QUEUED/);
    for (const rank of [0, 1]) {
      expect(output).toMatch(new RegExp(`rank ${rank}\\] rank ${rank} of 2: hosts=\\S+,\\S+`));
      expect(output).toContain(`rank ${rank} read its input: hello from a staged input file`);
      expect(output).toContain(`rank ${rank}] rank ${rank} done`);
    }
    expect(output).toMatch(/job [0-9a-f-]+: SUCCEEDED; attempts 1/);
    expect(output).toContain('Gantry is running.');
  });
});
