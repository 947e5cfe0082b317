import { randomUUID } from 'node:crypto';
import { type EventEnvelope, type FileEvent } from '@gantry/contracts';
import { opToSql } from '../op-sql';
import { projectStagedFiles, STAGED_FILES_TABLE } from './staged-files.projection';

const FILE = `file-${'ab'.repeat(16)}`;
const SHA = 'c'.repeat(64);

const envelope = (event: FileEvent, version: number, tenant = 'acme'): EventEnvelope => ({
  id: randomUUID(),
  type: event.type,
  schemaVersion: 1,
  data: event.data,
  metadata: {
    tenant,
    occurredAt: '2026-11-23T10:00:00.000Z',
    causationId: null,
    correlationId: 'corr',
    streamId: FILE,
    streamVersion: version,
  },
});

describe('staged_files projection', () => {
  it('writes a PENDING_UPLOAD row keyed by tenant and file on FileCreated', () => {
    const ops = projectStagedFiles(
      envelope(
        {
          type: 'FileCreated',
          data: {
            fileId: FILE,
            name: 'in.csv',
            expectedSize: 3,
            createdAt: '2026-11-23T10:00:00Z',
          },
        },
        1,
      ),
    );
    expect(ops).toEqual([
      expect.objectContaining({
        kind: 'upsert',
        key: { tenant: 'acme', file_id: FILE },
        version: 1,
        values: expect.objectContaining({ state: 'PENDING_UPLOAD', size: 3, sha256: null }),
      }),
    ]);
    // Every op must fit the declared table, or the sink would refuse the batch.
    for (const op of ops) expect(() => opToSql(op, STAGED_FILES_TABLE)).not.toThrow();
  });

  it('marks the row READY with the measured size and digest on FileUploaded', () => {
    const ops = projectStagedFiles(
      envelope(
        {
          type: 'FileUploaded',
          data: {
            fileId: FILE,
            size: 5,
            sha256: SHA,
            objectName: `${FILE}.1`,
            uploadedAt: '2026-11-23T10:01:00Z',
          },
        },
        2,
        'globex',
      ),
    );
    expect(ops).toEqual([
      {
        kind: 'update',
        table: 'staged_files',
        key: { tenant: 'globex', file_id: FILE },
        version: 2,
        set: { state: 'READY', size: 5, sha256: SHA, uploaded_at: '2026-11-23T10:01:00Z' },
      },
    ]);
    for (const op of ops) expect(() => opToSql(op, STAGED_FILES_TABLE)).not.toThrow();
  });

  it('ignores events of other aggregates', () => {
    const other = { ...envelope({ type: 'FileCreated', data: {} } as never, 1), type: 'JobQueued' };
    expect(projectStagedFiles(other)).toEqual([]);
  });
});
