import {
  fileEventDefinitions,
  type DomainEvent,
  type EventEnvelope,
  type FileEvent,
} from '@gantry/contracts';
import { type ProjectionOp, type ProjectionTable } from '../projection-op';
import { type ProjectionDefinition } from '../projection';

/**
 * staged_files: a tenant's uploaded input files as the gateway shows them (issue 3, staging).
 * Staging keeps it itself, right after each append (it is the files' only writer), and it is
 * rebuildable from the file streams like every projection (invariant 6).
 */
export const STAGED_FILES_TABLE: ProjectionTable = {
  name: 'staged_files',
  key: ['tenant', 'file_id'],
  columns: [
    'tenant',
    'file_id',
    'name',
    'state',
    'size',
    'sha256',
    'created_at',
    'uploaded_at',
    'last_version',
  ],
  versionColumn: 'last_version',
};

export const STAGED_FILE_STATES = ['PENDING_UPLOAD', 'READY'] as const;
export type StagedFileState = (typeof STAGED_FILE_STATES)[number];
/** A collected file (FileDeleted): its row stays, but readers treat it as absent. */
export const DELETED_STAGED_FILE_STATE = 'DELETED';

type EnvelopeOf<E> =
  E extends DomainEvent<infer TType, infer TData> ? EventEnvelope<TType, TData> : never;
export type FileEventEnvelope = EnvelopeOf<FileEvent>;

const FILE_EVENT_TYPES: ReadonlySet<string> = new Set(fileEventDefinitions.map((d) => d.type));

export const isFileEvent = (event: EventEnvelope): event is FileEventEnvelope =>
  FILE_EVENT_TYPES.has(event.type);

export const projectStagedFiles = (event: EventEnvelope): ProjectionOp[] => {
  if (!isFileEvent(event)) return [];
  const { streamVersion: version, tenant } = event.metadata;
  const key = { tenant, file_id: event.data.fileId };
  const table = STAGED_FILES_TABLE.name;
  switch (event.type) {
    case 'FileCreated':
      return [
        {
          kind: 'upsert',
          table,
          key,
          version,
          values: {
            name: event.data.name,
            state: 'PENDING_UPLOAD' satisfies StagedFileState,
            size: event.data.expectedSize ?? null,
            sha256: event.data.expectedSha256 ?? null,
            created_at: event.data.createdAt,
            uploaded_at: null,
          },
        },
      ];
    case 'FileUploaded':
      return [
        {
          kind: 'update',
          table,
          key,
          version,
          set: {
            state: 'READY' satisfies StagedFileState,
            size: event.data.size,
            sha256: event.data.sha256,
            uploaded_at: event.data.uploadedAt,
          },
        },
      ];
    case 'FileDeleted':
      return [
        {
          kind: 'update',
          table,
          key,
          version,
          set: { state: DELETED_STAGED_FILE_STATE },
        },
      ];
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
};

export const stagedFilesProjection: ProjectionDefinition = {
  name: 'staged_files',
  aggregates: ['file'],
  tables: [STAGED_FILES_TABLE],
  project: projectStagedFiles,
};
